package ota

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// FuzzParseRoot feeds arbitrary bytes to the root parser, and checks that
// whatever it accepts survives a re-encode and a Verifier start.
func FuzzParseRoot(f *testing.F) {
	f.Add([]byte(`{"payload":"e30","signatures":[{"protected":"e30","signature":""}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRoot(data)
		if err != nil {
			if r != nil {
				t.Fatal("root returned with error")
			}
			return
		}
		payload, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := parseRootPayload(payload)
		if err != nil {
			t.Fatalf("re-encoded root rejected: %v", err)
		}
		if r2.Version != r.Version || !r2.Expires.Equal(r.Expires) || !reflect.DeepEqual(r2.Roles, r.Roles) || len(r2.Keys) != len(r.Keys) {
			t.Fatal("root changed in round trip")
		}
		if _, err := NewVerifier(Config{HardwareID: testHW}, TrustedState{Root: data}, 0); err != nil {
			t.Fatalf("parsed root not usable as trust anchor: %v", err)
		}
	})
}

// FuzzParseManifest feeds arbitrary bytes to the manifest parser and the
// full verifier path.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"payload":"e30","signatures":[{"protected":"e30","signature":""}]}`))
	fx := newFixture(f, 1, 1, 1, 1)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifestUnverified(data)
		if err == nil {
			payload, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var m2 Manifest
			if err := decodeStrict("manifest", payload, &m2); err != nil || m2.validate() != nil {
				t.Fatalf("re-encoded manifest rejected: %v", err)
			}
			if !reflect.DeepEqual(normalize(m), normalize(&m2)) {
				t.Fatal("manifest changed in round trip")
			}
		}
		v, err := NewVerifier(Config{HardwareID: testHW, Now: func() time.Time { return t0 }}, TrustedState{Root: fx.rootBytes}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := v.VerifyManifest(data); err == nil {
			// Only the fixture's targets key can make this pass.
			if err := v.VerifyImage(bytes.NewReader(nil), nil); err == nil && m.Length != 0 {
				t.Fatal("empty image accepted")
			}
		}
	})
}

func normalize(m *Manifest) Manifest {
	c := *m
	c.Expires = c.Expires.UTC()
	return c
}

// FuzzParsePublicKey checks the JWK parser and that accepted keys
// re-encode to the same key ID.
func FuzzParsePublicKey(f *testing.F) {
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePublicKey(data)
		if err != nil {
			return
		}
		j, err := k.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParsePublicKey(j)
		if err != nil || k2.ID() != k.ID() || k2.Algorithm() != k.Algorithm() {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseStateFiles feeds arbitrary bytes to the parsers of the files a
// device keeps (journal, trusted state): a corrupted flash page must give an
// error, never a panic or an invalid entry.
func FuzzParseStateFiles(f *testing.F) {
	f.Add([]byte(`{"state":"installed","target":"b","previous":"a","manifest":"eyJ9","tries":1}`))
	f.Add([]byte(`{"manifest_version":3,"root":{"payload":"e30","signatures":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if j, err := parseJournal(data); err == nil {
			if j.State != StateIdle && j.State != StateCommitted && (!j.Target.Valid() || j.Previous != j.Target.Other()) {
				t.Fatalf("invalid journal accepted: %+v", j)
			}
			b, _ := json.Marshal(j)
			if _, err := parseJournal(b); err != nil {
				t.Fatalf("round trip: %v", err)
			}
		}
		if st, err := parseTrustFile(data); err == nil && !json.Valid(st.Root) {
			t.Fatal("trusted state with invalid root JSON accepted")
		}
	})
}

// TestWriteFuzzSeeds regenerates the seed corpora (valid signed documents
// and mutations) with -update-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to regenerate testdata/fuzz")
	}
	f := newFixture(t, 2, 2, 2, 1)
	img := testImage(100, 1)
	m := manifestFor(img)
	signedM := f.sign(m)
	next := buildRoot(2, pubs(f.rootKeys), 1, pubs(genKeys(t, 1)), 1)
	root2, err := SignRootRotation(rand.Reader, f.root, next, f.rootKeys)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, seeds ...[]byte) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzParseRoot", f.rootBytes, root2, bytes.Replace(f.rootBytes, []byte(`"signature"`), []byte(`"header":{},"signature"`), 1), signedM)
	pub, _ := f.rootKeys[0].Public().MarshalJSON()
	pub2, _ := f.rootKeys[1].Public().MarshalJSON()
	priv, _ := f.rootKeys[0].MarshalPrivateJWK()
	write("FuzzParsePublicKey", pub, pub2, priv, []byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`))
	jb, _ := json.Marshal(&JournalEntry{State: StateTrial, Target: SlotB, Previous: SlotA, Manifest: signedM, Written: 100, Tries: 1, Boots: 1})
	tb, _ := json.Marshal(trustFile{ManifestVersion: 5, Root: f.rootBytes})
	write("FuzzParseStateFiles", jb, tb, []byte(`{"state":"idle"}`))
	write("FuzzParseManifest", signedM, f.rootBytes, bytes.Replace(signedM, []byte("payload"), []byte("Payload"), 1))
}
