package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry/store"
)

// FuzzInsertData: arbitrary data JSON is either rejected with
// ErrInvalidReading or stored and read back with the same meaning.
func FuzzInsertData(f *testing.F) {
	for _, s := range []string{`{"sys":120,"dia":80}`, `{"a":[1,2,{"b":null}],"c":true}`, `{"x":"y"}`, `[1]`, `{"a":1e400}`, `{`} {
		f.Add([]byte(s))
	}
	s, err := store.OpenSQLite(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	dev, _ := iomt.NewDeviceID(nil)
	pat, _ := iomt.NewPatientID(nil)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seq := uint64(0)
	f.Fuzz(func(t *testing.T, data []byte) {
		seq++
		when := at.Add(time.Duration(seq) * time.Microsecond)
		r := store.Reading{DeviceID: dev, PatientID: pat, Seq: seq, Time: when, Kind: "k", Data: data}
		_, err := s.Insert(context.Background(), []store.Reading{r})
		if err != nil {
			if !errors.Is(err, store.ErrInvalidReading) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		got, err := s.ByPatient(context.Background(), pat, store.Range{From: when, To: when.Add(time.Microsecond)})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			if g.Seq == seq {
				var a, b any
				json.Unmarshal(data, &a)
				json.Unmarshal(g.Data, &b)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("stored %s, read back %s", data, g.Data)
				}
				return
			}
		}
		t.Fatal("accepted reading not stored")
	})
}
