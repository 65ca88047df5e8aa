package sbom

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
)

// limitedBuffer keeps at most max bytes and remembers overflow. Beyond max
// it fails the write (stdout: the command is stopped), or with truncate
// drops the rest (stderr: the diagnostic's start is what matters).
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int64
	overflow bool
	truncate bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - int64(b.buf.Len()); int64(len(p)) > room {
		b.overflow = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		if b.truncate {
			return len(p), nil
		}
		return 0, errors.New("output over limit")
	}
	return b.buf.Write(p)
}

// goEnv is the environment for go commands: the caller's, with GOWORK=off
// (an SBOM describes one module, not a workspace) and -mod=readonly added to
// GOFLAGS (a vendor directory must not stop "go list -m all", and the SBOM
// step must never rewrite go.mod), then cfg.Env, which wins.
func goEnv(cfg *Config) []string {
	env := os.Environ()
	var flags []string
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if !strings.HasPrefix(f, "-mod=") && !strings.HasPrefix(f, "--mod=") {
			flags = append(flags, f)
		}
	}
	flags = append(flags, "-mod=readonly")
	env = append(env, "GOWORK=off", "GOFLAGS="+strings.Join(flags, " "))
	return append(env, cfg.Env...)
}

// runGo runs the go command in dir and returns its standard output.
func runGo(ctx context.Context, cfg *Config, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, cfg.GoCommand, args...)
	cmd.Dir = dir
	cmd.Env = goEnv(cfg)
	stdout := &limitedBuffer{max: cfg.Limits.MaxGoOutput}
	stderr := &limitedBuffer{max: maxStderr, truncate: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if stdout.overflow {
		return nil, &LimitError{What: "go " + args[0] + " output", Limit: cfg.Limits.MaxGoOutput}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &GoCommandError{Args: args, Stderr: stderr.buf.String(), Err: err}
	}
	cfg.Logger.DebugContext(ctx, "sbom: go command done", "args", args, "bytes", stdout.buf.Len())
	return stdout.buf.Bytes(), nil
}
