package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/stack"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
)

// logger writes warnings and errors (never PHI: the SDK redacts) to stderr.
func logger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func storyPrinter(o *options, stdout io.Writer) *story.Printer {
	if o.Quiet {
		return story.New(nil, nil)
	}
	return story.New(stdout, nil)
}

// stateDir returns o.State, or a fresh temporary directory removed at
// shutdown.
func stateDir(o *options, lc *lifecycle) (string, error) {
	if o.State != "" {
		return o.State, os.MkdirAll(o.State, 0o700)
	}
	dir, err := os.MkdirTemp("", "bpmonitor-")
	if err != nil {
		return "", err
	}
	lc.onClose("state directory", func(context.Context) error { return os.RemoveAll(dir) })
	return dir, nil
}

// startPortal serves the portal on addr until shutdown.
func startPortal(c *stack.Cloud, o *options, hint string, lc *lifecycle) (string, error) {
	if !portal.LoopbackOnly(o.Listen) {
		return "", usageError{fmt.Errorf("--listen %s: the portal serves plain HTTP, so it listens on loopback only; put a TLS-terminating proxy in front for anything else", o.Listen)}
	}
	cfg := c.PortalConfig()
	cfg.InsecureHTTP = true // loopback only, checked above
	cfg.LoginHint = hint
	p, err := portal.New(cfg)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	lc.goRun(func() { _ = srv.Serve(ln) })
	lc.onClose("portal", srv.Shutdown)
	return "http://" + ln.Addr().String(), nil
}

func demoHint(accts []stack.DemoAccount, patients []stack.DemoPatient) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Demo accounts (random passwords, this run only):")
	for _, a := range accts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.UserID, a.Password, a.Purpose, a.Note)
	}
	for _, p := range patients {
		if p.User != "" {
			fmt.Fprintf(tw, "  %s\t%s\tPATRQT\tpatient (own record, sharing)\n", p.User, p.Password)
		}
	}
	tw.Flush()
	return b.String()
}

func runAllInOne(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	lc := &lifecycle{}
	err := allInOne(ctx, o, stdout, stderr, lc)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if serr := lc.shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	if err == nil || errors.Is(err, context.Canceled) {
		fmt.Fprintln(stdout, "bpmonitor: stopped cleanly")
		return nil
	}
	return err
}

// running is the all-in-one stack once started.
type running struct {
	cloud *stack.Cloud
	demo  *stack.Demo
	url   string
	hint  string
	state string
}

// startAll starts cloud, monitors and portal, registering everything with lc.
func startAll(ctx context.Context, o *options, st *story.Printer, stderr io.Writer, lc *lifecycle) (*running, error) {
	dir, err := stateDir(o, lc)
	if err != nil {
		return nil, err
	}
	c, err := stack.StartCloud(ctx, stack.CloudConfig{StateDir: dir, IdleTimeout: o.IdleTimeout, Story: st,
		PasswordIterations: o.passwordIterations, Logger: logger(stderr)})
	if err != nil {
		return nil, err
	}
	lc.onClose("cloud", c.Close)
	if o.onCloud != nil {
		if err := o.onCloud(c); err != nil {
			return nil, err
		}
	}
	// The release side publishes its demo releases; the monitors ask for
	// their offers after pairing, exactly as in the split mode.
	if err := c.Releases.PublishDemo(ctx); err != nil {
		return nil, err
	}
	dirs, err := existingDevices(dir)
	if err != nil {
		return nil, err
	}
	if len(dirs) < o.Devices {
		more, err := c.Manufacture(ctx, o.Devices-len(dirs))
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, more...)
	}
	d, err := stack.StartDemo(ctx, stack.DemoConfig{APIURL: c.APIURL, BrokerURL: c.BrokerURL, ServerRoots: c.PKI.ServerRoots,
		ProvisioningKey: c.PKI.ProvisioningKey.Public(), DeviceDirs: dirs, Interval: o.Interval, DropOuts: true, CheckUpdates: true, OTAPoll: time.Minute,
		History: o.history, Seed: uint64(time.Now().UnixNano()), Story: st})
	if err != nil {
		return nil, err
	}
	lc.onClose("monitors", d.Close)
	hint := demoHint(c.Accounts, d.Patients)
	url, err := startPortal(c, o, hint, lc)
	if err != nil {
		return nil, err
	}
	return &running{cloud: c, demo: d, url: url, hint: hint, state: dir}, nil
}

func allInOne(ctx context.Context, o *options, stdout, stderr io.Writer, lc *lifecycle) error {
	r, err := startAll(ctx, o, storyPrinter(o, stdout), stderr, lc)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nAdmin portal: %s   (state in %s; Ctrl-C stops everything)\n%s\n", r.url, r.state, r.hint)
	<-ctx.Done()
	return nil
}

// existingDevices lists manufactured device directories in stateDir.
func existingDevices(stateDir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(stateDir, "devices"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			dirs = append(dirs, filepath.Join(stateDir, "devices", e.Name()))
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

func runCloud(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	lc := &lifecycle{}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = lc.shutdown(sctx)
	}()
	st := storyPrinter(o, stdout)
	c, err := stack.StartCloud(ctx, stack.CloudConfig{StateDir: o.State, BrokerListen: o.BrokerListen, BrokerURL: o.BrokerURL,
		APIListen: o.APIListen, Postgres: o.Postgres, IdleTimeout: o.IdleTimeout, PasswordIterations: o.passwordIterations,
		Story: st, Logger: logger(stderr)})
	if err != nil {
		return err
	}
	lc.onClose("cloud", c.Close)
	// Device update status reports from an external broker (the embedded
	// one is tapped in process).
	sub, err := stack.StartOTAStatus(ctx, c, logger(stderr))
	if err != nil {
		return err
	}
	lc.onClose("ota status", sub.Close)
	if o.PublishReleases {
		if err := c.Releases.PublishDemo(ctx); err != nil {
			return err
		}
	}
	have, err := existingDevices(o.State)
	if err != nil {
		return err
	}
	if len(have) < o.Devices {
		if _, err := c.Manufacture(ctx, o.Devices-len(have)); err != nil {
			return err
		}
	}
	if o.onCloud != nil {
		if err := o.onCloud(c); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\ncloud running: API %s, broker %s, state %s\n%s\n", c.APIURL, c.BrokerURL, o.State, demoHint(c.Accounts, nil))
	<-ctx.Done()
	return nil
}

func runDevices(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.OTAPoll < 0 {
		return usageError{errors.New("--ota-poll must not be negative")}
	}
	st := storyPrinter(o, stdout)
	ep, err := stack.ReadEndpoints(o.State)
	if err != nil {
		return err
	}
	if o.BrokerURL != "" {
		ep.BrokerURL = o.BrokerURL
	}
	roots, prov, err := stack.DeviceFirmwareRoots(o.State)
	if err != nil {
		return err
	}
	dirs, err := existingDevices(o.State)
	if err != nil {
		return err
	}
	if len(dirs) < o.Devices {
		return usageError{fmt.Errorf("--count %d: the cloud manufactured only %d monitors (start it with --devices)", o.Devices, len(dirs))}
	}
	d, err := stack.StartDemo(ctx, stack.DemoConfig{APIURL: ep.APIURL, BrokerURL: ep.BrokerURL, ServerRoots: roots,
		ProvisioningKey: prov, DeviceDirs: dirs[:o.Devices], Interval: o.Interval, Readings: o.Readings,
		CheckUpdates: o.OTA, OTAPoll: o.OTAPoll,
		Seed: uint64(time.Now().UnixNano()), Story: st})
	if err != nil {
		return err
	}
	if o.Readings > 0 {
		err = d.Wait(ctx)
	} else {
		<-ctx.Done()
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return errors.Join(ignoreCanceled(err), d.Close(sctx))
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func runPortal(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	lc := &lifecycle{}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = lc.shutdown(sctx)
	}()
	c, err := stack.StartCloud(ctx, stack.CloudConfig{StateDir: o.State, Postgres: o.Postgres, IdleTimeout: o.IdleTimeout,
		PortalOnly: true, Logger: logger(stderr)})
	if err != nil {
		return err
	}
	lc.onClose("stores", c.Close)
	url, err := startPortal(c, o, "", lc)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "admin portal: %s\n", url)
	<-ctx.Done()
	return nil
}
