package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runCLI runs the CLI in-process and returns exit status, stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "iomt ") {
		t.Fatalf("version: code %d, out %q", code, out)
	}
}

func TestExitStatusUsage(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"version", "--no-such-flag"},
		{"version", "extra-arg"},
	} {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
		if n := strings.Count(stderr, "\n"); n != 1 {
			t.Errorf("%v: stderr has %d lines, want 1: %q", args, n, stderr)
		}
	}
}

// TestHelpEverywhere runs --help on every command of the tree.
func TestHelpEverywhere(t *testing.T) {
	root := newRootCmd(&cliState{})
	var walk func(path []string, c *cobra.Command)
	walk = func(path []string, c *cobra.Command) {
		code, out, _ := runCLI(t, "", append(append([]string{}, path...), "--help")...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("iomt %s --help: code %d", strings.Join(path, " "), code)
		}
		for _, sub := range c.Commands() {
			walk(append(append([]string{}, path...), sub.Name()), sub)
		}
	}
	walk(nil, root)
}

func TestExitCodeMapping(t *testing.T) {
	var b bytes.Buffer
	if got := exitCode(checkFailed("signature", errString("bad\nsig")), &cliState{started: true}, &b); got != exitFailed {
		t.Fatalf("check failure: exit %d", got)
	}
	if b.String() != "iomt: signature: bad sig\n" {
		t.Fatalf("stderr %q is not one line naming the rule", b.String())
	}
	if got := exitCode(usagef("missing --key"), &cliState{started: true}, &b); got != exitUsage {
		t.Fatalf("usage error: exit %d", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
