package phisilo_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/memory"
)

// clock is an injectable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	silo  *phisilo.Silo
	mem   *memory.Backend
	keys  *phisilo.Keyset
	clock *clock
	pub   ed25519.PublicKey
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ks, err := phisilo.NewKeyset("", nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	mem := memory.New()
	s, err := phisilo.New(phisilo.Config{Backend: mem, Keys: ks, Now: c.Now, CheckpointKey: priv, CheckpointEvery: 5, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return &env{silo: s, mem: mem, keys: ks, clock: c, pub: pub}
}

var (
	selfReg = phisilo.Principal{UserID: "phone-app", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	markers = []string{"ZQXMARKERNAME", "ZQXMARKERFAMILY", "ZQXMARKERSTREET", "zqxmarker@example.org", "+1-555-0199-7"}
)

func markerRecord() phisilo.Record {
	return phisilo.Record{
		Name:             phisilo.Name{Given: markers[0], Family: markers[1]},
		BirthDate:        "1950-07-04",
		Contact:          phisilo.Contact{Email: markers[3], Phone: markers[4]},
		Address:          phisilo.Address{Lines: []string{markers[2]}, City: "Springfield", State: "IL", PostalCode: "62704", Country: "US"},
		Physician:        phisilo.Physician{Name: "Dr Who"},
		EmergencyContact: phisilo.EmergencyContact{Name: "Rose", Relationship: "friend", Phone: "555-0100"},
		Consent:          phisilo.Consent{Treatment: true, DataSharing: true},
	}
}

func (e *env) register(t *testing.T) (phisilo.PatientID, phisilo.Principal) {
	t.Helper()
	id, err := e.silo.Register(context.Background(), selfReg, markerRecord(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return id, phisilo.Principal{UserID: "patient-" + id.String(), Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id}
}

func (e *env) lastEvent(t *testing.T) (int, phisilo.AuditEvent) {
	t.Helper()
	es, err := e.mem.Audit(context.Background(), 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		return 0, phisilo.AuditEvent{}
	}
	r, err := phisilo.DecodeAuditEntry(es[len(es)-1])
	if err != nil {
		t.Fatal(err)
	}
	return len(es), r.Event
}
