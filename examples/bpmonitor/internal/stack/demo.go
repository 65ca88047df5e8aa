package stack

import (
	"context"
	"crypto"
	crand "crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/monitor"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/netsim"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/phone"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/sim"
	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/phisilo"
)

// DemoPatient is a fictional patient of the demo. Every field of Record is
// PHI: it goes only to the registration API. Markers lists strings that must
// never appear on the telemetry path (the end-to-end test scans for them).
type DemoPatient struct {
	User     string
	Password string
	Record   phisilo.Record
	Profile  sim.Profile
	Markers  []string
}

// DemoPatients returns the demo's fictional patients (fresh passwords).
func DemoPatients() []DemoPatient {
	ps := sim.DemoProfiles()
	mk := func(user, given, family, born, phone, email, street, city, state, zip, doctor, ec, rel string, prof sim.Profile) DemoPatient {
		pw, _ := newPassword(crand.Reader)
		return DemoPatient{User: user, Password: pw, Profile: prof,
			Record: phisilo.Record{
				Name: phisilo.Name{Given: given, Family: family}, BirthDate: born,
				Contact:          phisilo.Contact{Phone: phone, Email: email},
				Address:          phisilo.Address{Lines: []string{street}, City: city, State: state, PostalCode: zip, Country: "US"},
				Physician:        phisilo.Physician{Name: doctor, Phone: "+1 503 555 0100"},
				EmergencyContact: phisilo.EmergencyContact{Name: ec, Relationship: rel, Phone: "+1 503 555 0199"},
				Consent:          phisilo.Consent{Treatment: true, DataSharing: true},
			},
			Markers: []string{given + " " + family, family, born, phone, email, street},
		}
	}
	return []DemoPatient{
		mk("alex", "Alex", "Rivermoor", "1957-04-12", "+1 503 555 0142", "alex.rivermoor@example.com", "12 Harbor Lane", "Portland", "OR", "97201", "Dr. Morgan Lee", "Jamie Rivermoor", "spouse", ps[2]),
		mk("sam", "Sam", "Okonkwo-Hale", "1949-11-03", "+1 503 555 0177", "sam.okonkwo-hale@example.com", "48 Alder Street", "Beaverton", "OR", "97005", "Dr. Morgan Lee", "Ada Hale", "daughter", ps[3]),
		mk("maria", "Maria", "Lindqvist", "1968-02-27", "+1 503 555 0113", "maria.lindqvist@example.com", "7 Quarry Road", "Salem", "OR", "97301", "Dr. Morgan Lee", "Erik Lindqvist", "brother", ps[1]),
	}
}

// DemoConfig configures [StartDemo]: where the cloud is, what the device
// firmware trusts, and which manufactured device directories to run.
type DemoConfig struct {
	// APIURL is the registration, pairing and enrolment API.
	APIURL string
	// BrokerURL is the broker the monitors reach (through a drop-out proxy).
	BrokerURL string
	// ServerRoots and ProvisioningKey are baked into the device firmware.
	ServerRoots     *x509.CertPool
	ProvisioningKey crypto.PublicKey
	// DeviceDirs are manufactured monitors (see Cloud.Manufacture).
	DeviceDirs []string
	// Readings, when positive, is the number of live readings each monitor
	// takes before it stops (see Demo.Wait); zero means until Close.
	Readings int
	// Interval between live readings of each monitor.
	Interval time.Duration
	// History is the number of readings each cuff has in memory when it is
	// paired (taken twice a day before pairing); zero means 28.
	History int
	// DropOuts makes monitors lose their network now and then.
	DropOuts bool
	// CheckUpdates makes every paired monitor ask the cloud for offered
	// releases after pairing (monitor.CheckForUpdates: fetch, verify,
	// install to the inactive slot, trial boot, commit — or refuse and
	// report), as a device does at start-up.
	CheckUpdates bool
	// OTAPoll, when positive with CheckUpdates, repeats the check this
	// often while the monitors run.
	OTAPoll time.Duration
	// Releases, when set, publishes DemoReleases in process first and
	// implies CheckUpdates (tests; the modes publish from the cloud side).
	Releases *Releases
	Seed     uint64
	Story    *story.Printer
}

// Demo runs the simulated phones and monitors.
type Demo struct {
	Patients []DemoPatient
	Monitors []*monitor.Monitor
	proxies  []*netsim.Proxy
	cancel   context.CancelFunc
	wg       sync.WaitGroup // live readings (Wait)
	polls    sync.WaitGroup // update checks (until Close)
	story    *story.Printer
}

// StartDemo manufactures and pairs monitors, uploads their stored readings
// and starts taking live readings until Close.
func StartDemo(ctx context.Context, cfg DemoConfig) (_ *Demo, err error) {
	if cfg.History == 0 {
		cfg.History = 28
	}
	st := cfg.Story
	d := &Demo{story: st}
	defer func() {
		if err != nil {
			_ = d.Close(context.Background())
		}
	}()
	brokerAddr, err := brokerHostPort(cfg.BrokerURL)
	if err != nil {
		return nil, err
	}
	patients := DemoPatients()
	for i, dir := range cfg.DeviceDirs {
		px, err := netsim.Listen(brokerAddr)
		if err != nil {
			return nil, err
		}
		d.proxies = append(d.proxies, px)
		prof := sim.DemoProfiles()[i%len(sim.DemoProfiles())]
		if i < len(patients) {
			prof = patients[i].Profile
		}
		m, err := monitor.Open(ctx, monitor.Config{
			Dir: dir, ServerRoots: cfg.ServerRoots, ProvisioningKey: cfg.ProvisioningKey, BrokerAddr: px.Addr(), APIURL: cfg.APIURL,
			Profile: prof, Rand: rand.New(rand.NewPCG(cfg.Seed, uint64(i))), Story: st,
			Name: fmt.Sprintf("monitor %d", i+1),
		})
		if err != nil {
			return nil, err
		}
		d.Monitors = append(d.Monitors, m)
	}
	for i, m := range d.Monitors {
		if i >= len(patients) {
			st.Tell(m.Name(), "in stock, not paired")
			continue
		}
		if m.Enrolled() {
			st.Tell(m.Name(), "already paired and enrolled (state kept on the device)")
			d.Patients = append(d.Patients, DemoPatient{})
			continue
		}
		p := patients[i]
		app := phone.New(cfg.APIURL, cfg.ServerRoots, "phone "+p.User, st)
		if _, err := app.Register(ctx, p.Record, p.User, p.Password); err != nil {
			return nil, fmt.Errorf("register %s: %w", p.User, err)
		}
		if err := app.Login(ctx, p.User, p.Password); err != nil {
			return nil, fmt.Errorf("login %s: %w", p.User, err)
		}
		if err := app.Share(ctx, "dr.lee", phisilo.RoleClinician, phisilo.AllSections(), 30*24*time.Hour); err != nil {
			return nil, fmt.Errorf("share %s: %w", p.User, err)
		}
		if err := app.Pair(ctx, m, "HomeNet-"+p.User, "correct-horse-"+p.User); err != nil {
			return nil, fmt.Errorf("pair monitor %d: %w", i+1, err)
		}
		if err := m.Enroll(ctx); err != nil {
			return nil, fmt.Errorf("enrol monitor %d: %w", i+1, err)
		}
		d.Patients = append(d.Patients, p)
	}
	// The cuffs' memory: readings taken before pairing, uploaded now.
	now := time.Now()
	for i, m := range d.Monitors[:len(d.Patients)] {
		r := rand.New(rand.NewPCG(cfg.Seed+99, uint64(i)))
		for k := cfg.History; k >= 1; k-- {
			day := now.Add(-time.Duration((k+1)/2) * 24 * time.Hour)
			hour := 7*time.Hour + time.Duration(r.IntN(90))*time.Minute
			if k%2 == 0 {
				hour = 20*time.Hour + time.Duration(r.IntN(90))*time.Minute
			}
			at := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.Local).Add(hour)
			if at.After(now) {
				continue
			}
			if _, _, err := m.Measure(ctx, at); err != nil {
				return nil, fmt.Errorf("monitor %d history: %w", i+1, err)
			}
		}
		st.Tell(m.Name(), "uploading %d readings from the cuff's memory (signed, queued in the durable outbox)", cfg.History)
	}
	if cfg.Releases != nil {
		if err := cfg.Releases.PublishDemo(ctx); err != nil {
			return nil, fmt.Errorf("ota: %w", err)
		}
		cfg.CheckUpdates = true
	}
	if cfg.CheckUpdates {
		d.otaRound(ctx)
	}
	lctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	if cfg.CheckUpdates && cfg.OTAPoll > 0 {
		d.polls.Add(1)
		go func() {
			defer d.polls.Done()
			d.pollUpdates(lctx, cfg.OTAPoll)
		}()
	}
	for i, m := range d.Monitors[:len(d.Patients)] {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.live(lctx, m, d.proxies[i], cfg.Interval, cfg.Readings, cfg.DropOuts && i == 0, rand.New(rand.NewPCG(cfg.Seed+7, uint64(i))))
		}()
	}
	return d, nil
}

// maxDrainWait bounds how long a monitor that took its readings waits for
// its outbox to drain before it stops.
const maxDrainWait = 30 * time.Second

// live takes a reading every interval; with dropOuts the home network fails
// for a few readings now and then, and the outbox holds them meanwhile.
func (d *Demo) live(ctx context.Context, m *monitor.Monitor, px *netsim.Proxy, interval time.Duration, limit int, dropOuts bool, r *rand.Rand) {
	t := time.NewTicker(interval)
	defer t.Stop()
	offlineLeft := 0
	n := 0
	var drainDeadline time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if limit > 0 && n >= limit {
			// Done measuring: wait for the outbox to drain, but not forever
			// (an unreachable broker keeps the readings on disk instead).
			if px.Online() && m.Stats().Queued == 0 {
				return
			}
			px.SetOnline(true)
			if drainDeadline.IsZero() {
				drainDeadline = time.Now().Add(maxDrainWait)
			} else if time.Now().After(drainDeadline) {
				d.story.Tell(m.Name(), "broker unreachable: %d readings stay in the outbox for the next start", m.Stats().Queued)
				return
			}
			continue
		}
		n++
		if dropOuts && offlineLeft == 0 && n%6 == 3 {
			offlineLeft = 2 + r.IntN(2)
			px.SetOnline(false)
			d.story.Tell(m.Name(), "Wi-Fi lost: readings stay in the durable outbox")
		}
		bp, seq, err := m.Measure(ctx, time.Now())
		if err != nil {
			if ctx.Err() == nil {
				d.story.Tell(m.Name(), "measurement failed: %v", err)
			}
			continue
		}
		d.story.Tell(m.Name(), "measured %.0f/%.0f mmHg, pulse %.0f → seq %d queued (outbox holds %d)", bp.Systolic, bp.Diastolic, bp.Pulse, seq, m.Stats().Queued)
		if offlineLeft > 0 {
			offlineLeft--
			if offlineLeft == 0 {
				px.SetOnline(true)
				d.story.Tell(m.Name(), "Wi-Fi back: the outbox forwards %d waiting readings", m.Stats().Queued)
			}
		}
	}
}

// otaRound lets each paired monitor ask the cloud for its offers and
// install them in order (see DemoReleases: 1.1.0 is committed, the tampered
// 1.1.1 and the 1.0.5 downgrade are refused and reported). A failed check
// (cloud unreachable) is told; the monitor keeps measuring and, with
// OTAPoll, asks again later.
func (d *Demo) otaRound(ctx context.Context) {
	for _, m := range d.Monitors[:len(d.Patients)] {
		if _, err := m.CheckForUpdates(ctx); err != nil && ctx.Err() == nil {
			d.story.Tell(m.Name(), "update check failed (will retry): %v", err)
		}
	}
}

// pollUpdates repeats the update check every interval until ctx ends; a
// failed check (cloud unreachable) is told and retried next time.
func (d *Demo) pollUpdates(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range d.Monitors[:len(d.Patients)] {
			if _, err := m.CheckForUpdates(ctx); err != nil && ctx.Err() == nil {
				d.story.Tell(m.Name(), "update check failed (will retry): %v", err)
			}
		}
	}
}

// Wait returns when every monitor has taken its Readings and emptied its
// outbox (only meaningful with DemoConfig.Readings > 0), or ctx ends.
func (d *Demo) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the live readings and closes monitors and proxies.
func (d *Demo) Close(ctx context.Context) error {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	d.polls.Wait()
	// Let the outboxes drain briefly; whatever is left stays on disk and
	// is sent on the next start (that is the point of a durable outbox).
	for _, p := range d.proxies {
		p.SetOnline(true)
	}
	var errs []error
	for _, m := range d.Monitors {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := m.Close(cctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			d.story.Tell(m.Name(), "powered off with unsent readings kept in the outbox for the next start")
			err = nil
		}
		errs = append(errs, err)
	}
	for _, p := range d.proxies {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

func brokerHostPort(u string) (string, error) {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return "", fmt.Errorf("broker URL %q: want mqtts://host:port", u)
	}
	return pu.Host, nil
}

// DeviceFirmwareRoots loads what a device build bakes in from the cloud's
// PKI directory (split mode).
func DeviceFirmwareRoots(stateDir string) (*x509.CertPool, crypto.PublicKey, error) {
	return monitor.LoadFirmwareTrust(filepath.Join(stateDir, "pki"))
}

// PatientID returns the patient UUID monitor i was paired with (zero if
// unpaired).
func (d *Demo) PatientID(i int) iomt.PatientID {
	if i >= len(d.Monitors) {
		return iomt.PatientID{}
	}
	return d.Monitors[i].Patient()
}
