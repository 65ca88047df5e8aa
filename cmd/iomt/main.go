// Command iomt is the openiomt command-line tool: device keys, telemetry
// envelopes, firmware releases, SBOMs and audit logs.
//
// Exit status: 0 success, 1 a check or verification failed (the reason on
// stderr, one line, naming the rule), 2 usage error. Run "iomt --help" or
// "iomt COMMAND --help" for the commands.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI with args and returns the exit status. Tests call it
// in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	st := &cliState{}
	root := newRootCmd(st)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	return exitCode(err, st, stderr)
}
