package ingest_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/openiomt/sdk/telemetry/ingest"
	"github.com/openiomt/sdk/telemetry/store"
)

// testVerifier stands in for telemetry.Verifier: envelopes are JSON with an
// HMAC, a topic check and a committed-sequence replay set.
type testVerifier struct {
	mu   sync.Mutex
	seen map[[2]uint64]bool
}

var (
	errSig    = errors.New("test: bad signature")
	errReplay = errors.New("test: replay")
	errTopic  = errors.New("test: topic mismatch")
	macKey    = []byte("test key, not a secret")
)

type env struct {
	Dev  uuid.UUID       `json:"dev"`
	Pat  uuid.UUID       `json:"pat"`
	Seq  uint64          `json:"seq"`
	TS   time.Time       `json:"ts"`
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
	MAC  string          `json:"mac,omitempty"`
}

func mac(e env) string {
	e.MAC = ""
	b, _ := json.Marshal(e)
	m := hmac.New(sha256.New, macKey)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

func makeEnvelope(dev, pat uuid.UUID, seq uint64, ts time.Time) []byte {
	e := env{Dev: dev, Pat: pat, Seq: seq, TS: ts.UTC(), Kind: "blood_pressure", Data: json.RawMessage(fmt.Sprintf(`{"sys":%d,"dia":80,"unit":0}`, 100+seq%60))}
	e.MAC = mac(e)
	b, _ := json.Marshal(e)
	return b
}

func newTestVerifier() *testVerifier { return &testVerifier{seen: map[[2]uint64]bool{}} }

func key(r store.Reading) [2]uint64 {
	return [2]uint64{uint64(r.DeviceID[0])<<56 | uint64(r.DeviceID[1])<<48 | uint64(r.DeviceID[15]), r.Seq}
}

func (v *testVerifier) Check(_ context.Context, topic string, b []byte) (ingest.Accepted, error) {
	var e env
	if err := json.Unmarshal(b, &e); err != nil {
		return ingest.Accepted{}, errSig
	}
	if !hmac.Equal([]byte(mac(e)), []byte(e.MAC)) {
		return ingest.Accepted{}, errSig
	}
	if topic != "iomt/v1/"+e.Dev.String()+"/telemetry/"+e.Kind {
		return ingest.Accepted{}, errTopic
	}
	r := store.Reading{DeviceID: e.Dev, PatientID: e.Pat, Seq: e.Seq, Time: e.TS, Kind: e.Kind, Data: e.Data}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen[key(r)] {
		return ingest.Accepted{}, errReplay
	}
	return ingest.Accepted{Reading: r}, nil
}

func (v *testVerifier) Commit(_ context.Context, a ingest.Accepted) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen[key(a.Reading)] {
		return errReplay
	}
	v.seen[key(a.Reading)] = true
	return nil
}

func testRule(err error) string {
	switch {
	case errors.Is(err, errSig):
		return "signature"
	case errors.Is(err, errReplay):
		return "replay"
	case errors.Is(err, errTopic):
		return "topic"
	}
	return ""
}
