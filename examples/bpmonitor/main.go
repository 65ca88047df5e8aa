// Command bpmonitor runs the openiomt worked example: a home blood-pressure
// monitor with a companion phone app, a cloud ingest, a PHI silo and an
// admin portal, built only from the SDK's public packages.
//
// With no subcommand it starts everything in one process, with embedded
// defaults (mochi-mqtt broker with mutual TLS, SQLite stores) and prints what
// happens as a story, then the portal URL and demo accounts:
//
//	go run ./examples/bpmonitor
//
// The subcommands split the same code paths for a real deployment:
//
//	bpmonitor cloud  --broker mqtts://… --postgres postgres://… --state DIR
//	bpmonitor device --broker mqtts://… --count 10 --readings 100 --state DIR
//	bpmonitor portal --listen 127.0.0.1:8080 --postgres postgres://… --state DIR
//
// Ctrl-C (SIGINT) or SIGTERM shuts everything down cleanly.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses: 0 clean shutdown, 1 failure, 2 usage error.
const (
	exitOK, exitFailed, exitUsage = 0, 1, 2
)

type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	started := false
	root := newRootCmd(stdout, stderr)
	root.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "bpmonitor: "+strings.Join(strings.Fields(err.Error()), " "))
	var ue usageError
	if errors.As(err, &ue) || !started {
		return exitUsage
	}
	return exitFailed
}

// shutdownTimeout bounds a clean shutdown after Ctrl-C.
const shutdownTimeout = 10 * time.Second

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	o := defaultOptions()
	root := &cobra.Command{
		Use:   "bpmonitor",
		Short: "The openiomt blood-pressure monitor stack: devices, broker, ingest, PHI silo, OTA and admin portal",
		Long: `bpmonitor runs the openiomt worked example.

Without a subcommand it starts the whole stack in one process — an embedded
MQTT v5 broker with mutual TLS, the registration API and PHI silo, ingest and
readings store on SQLite, the OTA release server, the admin portal, a
simulated phone app and a few simulated monitors — and tells what happens.
Ctrl-C stops it.

Subcommands run the parts separately against an external broker and
PostgreSQL, with the same code paths.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAllInOne(cmd.Context(), o, stdout, stderr)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	f := root.Flags()
	f.StringVar(&o.Listen, "listen", o.Listen, "portal listen address (plain HTTP only on loopback)")
	f.StringVar(&o.State, "state", o.State, "state directory; empty means a new temporary directory removed on exit")
	f.IntVar(&o.Devices, "devices", o.Devices, "number of simulated monitors (1-50)")
	f.DurationVar(&o.Interval, "interval", o.Interval, "time between live readings of each monitor")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", o.IdleTimeout, "portal automatic logoff after this long without activity")
	f.BoolVar(&o.Quiet, "quiet", o.Quiet, "do not print the story")

	root.AddCommand(newCloudCmd(stdout, stderr), newDeviceCmd(stdout, stderr), newPortalCmd(stdout, stderr))
	return root
}

// options are the flags of every mode; each command documents the ones it uses.
type options struct {
	Listen       string
	APIListen    string
	BrokerListen string
	BrokerURL    string
	Postgres     string
	State        string
	Devices      int
	Readings     int
	Interval     time.Duration
	IdleTimeout  time.Duration
	Quiet        bool
	// PublishReleases (cloud) publishes the demo releases at start-up;
	// OTA and OTAPoll (device) ask the cloud for offered releases after
	// pairing and then every OTAPoll.
	PublishReleases bool
	OTA             bool
	OTAPoll         time.Duration

	// For tests: PBKDF2 iterations (zero: phisilo's default), cuff history
	// (zero: 28) and a hook run once the cloud is up.
	passwordIterations int
	history            int
	onCloud            func(*stack.Cloud) error
}

func defaultOptions() *options {
	return &options{
		Listen:       "127.0.0.1:8080",
		APIListen:    "127.0.0.1:8443",
		BrokerListen: "127.0.0.1:8883",
		Devices:      3,
		Interval:     15 * time.Second,
		IdleTimeout:  5 * time.Minute,
	}
}

func (o *options) validate() error {
	if o.Devices < 1 || o.Devices > 50 {
		return usageError{errors.New("--devices must be 1 to 50")}
	}
	if o.Interval < 100*time.Millisecond {
		return usageError{errors.New("--interval must be at least 100ms")}
	}
	if o.Listen != "" && !portal.LoopbackOnly(o.Listen) {
		return usageError{fmt.Errorf("--listen %s: the portal serves plain HTTP, so it listens on loopback only; put a TLS-terminating proxy in front for anything else", o.Listen)}
	}
	if o.IdleTimeout < 5*time.Second || o.IdleTimeout > 12*time.Hour {
		return usageError{errors.New("--idle-timeout must be 5s to 12h")}
	}
	return nil
}

func newCloudCmd(stdout, stderr io.Writer) *cobra.Command {
	o := defaultOptions()
	cmd := &cobra.Command{
		Use:   "cloud",
		Short: "Run the cloud side: broker (or an external one), registration API, PHI silo, enrolment, ingest, OTA server",
		Long: `cloud runs the cloud side of the stack.

With --broker it connects the ingest to an external MQTT v5 broker (such as
Mosquitto with require_certificate true, using the CA this command writes to
the state directory); otherwise it embeds mochi-mqtt on --broker-listen.
With --postgres the PHI silo, device registry and readings live in
PostgreSQL; otherwise in SQLite files in the state directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCloud(cmd.Context(), o, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.BrokerURL, "broker", "", "external broker URL (mqtts://host:port); empty embeds one")
	f.StringVar(&o.BrokerListen, "broker-listen", o.BrokerListen, "embedded broker listen address")
	f.StringVar(&o.APIListen, "api-listen", o.APIListen, "registration, enrolment and OTA API listen address (HTTPS)")
	f.StringVar(&o.Postgres, "postgres", "", "PostgreSQL DSN; empty uses SQLite in the state directory")
	f.StringVar(&o.State, "state", "bpmonitor-state", "state directory (CA, keys, SQLite files)")
	f.IntVar(&o.Devices, "devices", 3, "monitors the factory manufactures into the state directory")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", o.IdleTimeout, "portal session idle timeout (the portal command reads sessions from the same silo)")
	f.BoolVar(&o.PublishReleases, "publish-releases", true, "publish the demo firmware releases at start-up (1.1.0; 1.1.1 from a tampered mirror; 1.0.5, a downgrade), each as a campaign for 100% of the fleet; campaigns already in the state directory are kept")
	return cmd
}

func newDeviceCmd(stdout, stderr io.Writer) *cobra.Command {
	o := defaultOptions()
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Run one or many simulated monitors against a broker",
		Long: `device runs simulated blood-pressure monitors. Each has its own keys and
identity in the state directory, is paired by the simulated phone app
through the registration API, enrols for its certificate, and publishes
signed readings over mutual-TLS MQTT v5.

With --ota (the default) each monitor then asks the cloud's OTA endpoint,
with its device certificate, which releases it is offered, and installs
them as in the all-in-one mode: verify, write the inactive slot, trial boot,
commit; a tampered release and a downgrade are refused. Outcomes are
reported on iomt/v1/{device}/ota/status.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDevices(cmd.Context(), o, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.BrokerURL, "broker", "", "broker URL (mqtts://host:port); empty means the one the cloud wrote to the state directory")
	f.IntVar(&o.Devices, "count", 1, "number of monitors (1-50)")
	f.IntVar(&o.Readings, "readings", 0, "readings per monitor, then exit; 0 runs until interrupted")
	f.DurationVar(&o.Interval, "interval", time.Second, "time between readings of each monitor (the rate)")
	f.StringVar(&o.State, "state", "bpmonitor-state", "state directory (shared with cloud for the CA certificate)")
	f.BoolVar(&o.Quiet, "quiet", false, "do not print the story")
	f.BoolVar(&o.OTA, "ota", true, "after pairing, ask the cloud for offered firmware releases and install them (verify, inactive slot, trial boot, commit; refuse tampered or downgraded ones)")
	f.DurationVar(&o.OTAPoll, "ota-poll", time.Minute, "ask for offered releases again this often while running; 0 asks only once")
	return cmd
}

func newPortalCmd(stdout, stderr io.Writer) *cobra.Command {
	o := defaultOptions()
	cmd := &cobra.Command{
		Use:   "portal",
		Short: "Run the admin portal against the cloud's stores",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPortal(cmd.Context(), o, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", o.Listen, "listen address (plain HTTP only on loopback)")
	f.StringVar(&o.Postgres, "postgres", "", "PostgreSQL DSN of the cloud; empty uses its SQLite files in the state directory")
	f.StringVar(&o.State, "state", "bpmonitor-state", "the cloud's state directory")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", o.IdleTimeout, "automatic logoff after this long without activity")
	return cmd
}
