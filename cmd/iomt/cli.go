package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit statuses, per the CLI contract.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// cliState records whether a command's RunE started: errors before that
// (unknown command, bad flag, wrong argument count) are usage errors.
type cliState struct{ started bool }

// usageError marks an error as a usage error (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error (exit 2).
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// checkError is a failed check or verification (exit 1). Rule names the rule
// that failed, e.g. "signature" or "expired".
type checkError struct {
	Rule string
	Err  error
}

func (e *checkError) Error() string { return e.Rule + ": " + e.Err.Error() }
func (e *checkError) Unwrap() error { return e.Err }

// checkFailed wraps err as a failed check of rule (exit 1).
func checkFailed(rule string, err error) error { return &checkError{Rule: rule, Err: err} }

// exitCode prints err on one line of stderr and maps it to an exit status.
func exitCode(err error, st *cliState, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintln(stderr, "iomt: "+strings.TrimPrefix(msg, "iomt: "))
	var ue *usageError
	if errors.As(err, &ue) || !st.started {
		return exitUsage
	}
	return exitFailed
}

// newRootCmd builds the command tree. Subcommands must not set their own
// PersistentPreRun: the root's records that argument parsing succeeded.
func newRootCmd(st *cliState) *cobra.Command {
	root := &cobra.Command{
		Use:   "iomt",
		Short: "openiomt: keys, signed telemetry, firmware releases, SBOMs and audit logs for medical devices",
		Long: `iomt is the openiomt command-line tool for makers of connected medical devices.

Exit status: 0 success, 1 a check or verification failed (the reason on
stderr, one line, naming the rule), 2 usage error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(*cobra.Command, []string) {
			st.started = true
		},
		// Without RunE, "iomt" with no command prints help and succeeds;
		// with an unknown command cobra reports a usage error.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newVersionCmd())
	root.AddCommand(newCACmd(), newDeviceCmd(), newPairCmd())
	root.AddCommand(newKeygenCmd(), newTelemetryCmd())
	root.AddCommand(newSBOMCmd())
	root.AddCommand(newAuditCmd(), newKeysCmd())
	root.AddCommand(newOTACmd())
	root.AddCommand(newLoadtestCmd())
	return root
}
