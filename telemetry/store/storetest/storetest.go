// Package storetest is the conformance suite every readings
// [store.Store] implementation runs, in the manner of testing/slogtest.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openMyStore(t) })
//	}
//
// The factory must return an empty store that is private to the test.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry/store"
)

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"IdempotentRedelivery", testIdempotent},
		{"DuplicateWithinBatch", testDuplicateWithinBatch},
		{"RangeBounds", testRangeBounds},
		{"KindFilterAndLimit", testKindAndLimit},
		{"LatestByPatient", testLatest},
		{"PatientsIsolated", testIsolation},
		{"RejectsInvalidReadings", testInvalid},
		{"RejectsPHISmuggledInData", testPHISmuggling},
		{"RejectsInvalidQueries", testInvalidQueries},
		{"ConcurrentOverlappingWriters", testConcurrent},
		{"CancelledContext", testCancelled},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func bp(dev iomt.DeviceID, pat iomt.PatientID, seq uint64, at time.Time) store.Reading {
	return store.Reading{DeviceID: dev, PatientID: pat, Seq: seq, Time: at, Kind: iomt.KindBloodPressure,
		Data: json.RawMessage(fmt.Sprintf(`{"sys": %d, "dia": 80, "unit": 0, "pulse": 61.5}`, 100+seq%50))}
}

func insert(t *testing.T, s store.Store, rs ...store.Reading) store.InsertResult {
	t.Helper()
	res, err := s.Insert(context.Background(), rs)
	if err != nil {
		t.Fatalf("Insert: %v", err)
	}
	return res
}

func all(t *testing.T, s store.Store, pat iomt.PatientID) []store.Reading {
	t.Helper()
	got, err := s.ByPatient(context.Background(), pat, store.Range{From: t0.Add(-24 * time.Hour), To: t0.Add(1000 * time.Hour), Limit: store.MaxLimit})
	if err != nil {
		t.Fatalf("ByPatient: %v", err)
	}
	return got
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func equal(t *testing.T, got, want store.Reading) {
	t.Helper()
	if got.DeviceID != want.DeviceID || got.PatientID != want.PatientID || got.Seq != want.Seq ||
		!got.Time.Equal(want.Time.Truncate(time.Microsecond)) || got.Time.Location() != time.UTC ||
		got.Kind != want.Kind || !sameJSON(got.Data, want.Data) {
		t.Fatalf("stored reading differs:\n got  %+v %s\n want %+v %s", got, got.Data, want, want.Data)
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	dev, pat := newDev(), newPat()
	in := bp(dev, pat, math.MaxInt64, t0.Add(123456789*time.Nanosecond))
	if res := insert(t, s, in); res.Inserted != 1 || res.Duplicates != 0 {
		t.Fatalf("InsertResult = %+v", res)
	}
	got := all(t, s, pat)
	if len(got) != 1 {
		t.Fatalf("%d rows, want 1", len(got))
	}
	equal(t, got[0], in)
	if res, err := s.Insert(context.Background(), nil); err != nil || res != (store.InsertResult{}) {
		t.Fatalf("empty Insert = %+v, %v", res, err)
	}
}

func testIdempotent(t *testing.T, s store.Store) {
	dev, pat := newDev(), newPat()
	var batch []store.Reading
	for i := range 20 {
		batch = append(batch, bp(dev, pat, uint64(i+1), t0.Add(time.Duration(i)*time.Minute)))
	}
	insert(t, s, batch...)
	// A redelivered batch, overlapping by half, with the duplicates' data
	// altered: the first stored version must win.
	var again []store.Reading
	for i := 10; i < 30; i++ {
		r := bp(dev, pat, uint64(i+1), t0.Add(time.Duration(i)*time.Minute))
		if i < 20 {
			r.Data = json.RawMessage(`{"sys":999}`)
		}
		again = append(again, r)
	}
	if res := insert(t, s, again...); res.Inserted != 10 || res.Duplicates != 10 {
		t.Fatalf("redelivery InsertResult = %+v, want 10 inserted, 10 duplicates", res)
	}
	got := all(t, s, pat)
	if len(got) != 30 {
		t.Fatalf("%d rows, want 30", len(got))
	}
	for i, r := range got {
		if r.Seq != uint64(i+1) || strings.Contains(string(r.Data), "999") {
			t.Fatalf("row %d = seq %d %s", i, r.Seq, r.Data)
		}
	}
}

func testDuplicateWithinBatch(t *testing.T, s store.Store) {
	dev, pat := newDev(), newPat()
	r := bp(dev, pat, 7, t0)
	if res := insert(t, s, r, r, bp(dev, pat, 8, t0)); res.Inserted != 2 || res.Duplicates != 1 {
		t.Fatalf("InsertResult = %+v", res)
	}
	// Same seq on another device is a different reading.
	if res := insert(t, s, bp(newDev(), pat, 7, t0)); res.Inserted != 1 {
		t.Fatalf("other device, same seq: %+v", res)
	}
}

func testRangeBounds(t *testing.T, s store.Store) {
	dev, pat := newDev(), newPat()
	for i := range 10 {
		insert(t, s, bp(dev, pat, uint64(i+1), t0.Add(time.Duration(i)*time.Hour)))
	}
	got, err := s.ByPatient(context.Background(), pat, store.Range{From: t0.Add(2 * time.Hour), To: t0.Add(5 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Seq != 3 || got[2].Seq != 5 {
		t.Fatalf("[2h,5h) returned %d rows", len(got))
	}
	// Sub-microsecond bounds: a reading at exactly t is included by From=t
	// and excluded by To=t, whatever the nanoseconds.
	at := t0.Add(100*time.Hour + 5*time.Microsecond)
	insert(t, s, bp(dev, pat, 100, at))
	got, _ = s.ByPatient(context.Background(), pat, store.Range{From: at.Add(-time.Nanosecond), To: at.Add(time.Nanosecond)})
	if len(got) != 1 {
		t.Fatalf("±1ns around a reading returned %d rows", len(got))
	}
	got, _ = s.ByPatient(context.Background(), pat, store.Range{From: at.Add(time.Nanosecond), To: at.Add(time.Hour)})
	if len(got) != 0 {
		t.Fatalf("From just after a reading returned it")
	}
}

func testKindAndLimit(t *testing.T, s store.Store) {
	dev, pat := newDev(), newPat()
	for i := range 10 {
		r := bp(dev, pat, uint64(i+1), t0.Add(time.Duration(i)*time.Minute))
		if i%2 == 1 {
			r.Kind, r.Data = iomt.KindHeartRate, json.RawMessage(`{"bpm":70}`)
		}
		insert(t, s, r)
	}
	got, err := s.ByPatient(context.Background(), pat, store.Range{From: t0, To: t0.Add(time.Hour), Kind: iomt.KindHeartRate})
	if err != nil || len(got) != 5 {
		t.Fatalf("kind filter: %d rows, %v", len(got), err)
	}
	got, _ = s.ByPatient(context.Background(), pat, store.Range{From: t0, To: t0.Add(time.Hour), Limit: 4})
	if len(got) != 4 || got[3].Seq != 4 {
		t.Fatalf("limit 4: %d rows", len(got))
	}
}

func testLatest(t *testing.T, s store.Store) {
	pat := newPat()
	devs := []iomt.DeviceID{newDev(), newDev(), newDev()}
	for d, dev := range devs {
		for i := range 5 {
			// Out of order arrival: the latest by time is seq 3.
			at := t0.Add(time.Duration((i*7)%5) * time.Minute)
			insert(t, s, bp(dev, pat, uint64(10*d+i+1), at))
		}
	}
	insert(t, s, bp(newDev(), newPat(), 1, t0.Add(time.Hour))) // another patient
	got, err := s.LatestByPatient(context.Background(), pat)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d rows, want one per device (3)", len(got))
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].String() < devs[j].String() })
	for i, r := range got {
		if r.DeviceID != devs[i] || !r.Time.Equal(t0.Add(4*time.Minute)) {
			t.Fatalf("row %d: device order or time wrong", i)
		}
	}
	// Equal times: the greater seq wins.
	dev := newDev()
	p2 := newPat()
	insert(t, s, bp(dev, p2, 5, t0), bp(dev, p2, 9, t0), bp(dev, p2, 7, t0))
	got, _ = s.LatestByPatient(context.Background(), p2)
	if len(got) != 1 || got[0].Seq != 9 {
		t.Fatalf("tie on time: %+v", got)
	}
	if got, _ := s.LatestByPatient(context.Background(), newPat()); len(got) != 0 {
		t.Fatal("unknown patient has readings")
	}
}

func testIsolation(t *testing.T, s store.Store) {
	dev := newDev()
	a, b := newPat(), newPat()
	insert(t, s, bp(dev, a, 1, t0), bp(dev, b, 2, t0))
	for _, p := range []iomt.PatientID{a, b} {
		got := all(t, s, p)
		if len(got) != 1 || got[0].PatientID != p {
			t.Fatalf("patient query leaked other patients' rows")
		}
	}
}

func testInvalid(t *testing.T, s store.Store) {
	good := bp(newDev(), newPat(), 1, t0)
	cases := map[string]func(*store.Reading){
		"device":   func(r *store.Reading) { r.DeviceID = iomt.DeviceID{} },
		"patient":  func(r *store.Reading) { r.PatientID = iomt.PatientID{} },
		"seq":      func(r *store.Reading) { r.Seq = math.MaxInt64 + 1 },
		"time":     func(r *store.Reading) { r.Time = time.Time{} },
		"kind":     func(r *store.Reading) { r.Kind = "Blood Pressure" },
		"data":     func(r *store.Reading) { r.Data = json.RawMessage(`{"sys":`) },
		"data-arr": func(r *store.Reading) { r.Data = json.RawMessage(`[1,2]`) },
		"data-big": func(r *store.Reading) {
			r.Data = json.RawMessage(`{"a":[` + strings.Repeat("1,", store.MaxDataBytes) + `1]}`)
		},
		"data-deep": func(r *store.Reading) {
			r.Data = json.RawMessage(strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20))
		},
		"data-tail": func(r *store.Reading) { r.Data = json.RawMessage(`{"a":1}{"b":2}`) },
	}
	for name, mut := range cases {
		bad := good
		mut(&bad)
		other := bp(newDev(), good.PatientID, 2, t0)
		_, err := s.Insert(context.Background(), []store.Reading{other, bad})
		var re *store.ReadingError
		if !errors.Is(err, store.ErrInvalidReading) || !errors.As(err, &re) || re.Index != 1 {
			t.Errorf("%s: err = %v, want *ReadingError at index 1", name, err)
		}
	}
	if got := all(t, s, good.PatientID); len(got) != 0 {
		t.Fatalf("a rejected batch stored %d rows", len(got))
	}
	big := make([]store.Reading, store.MaxBatch+1)
	if _, err := s.Insert(context.Background(), big); !errors.Is(err, store.ErrBatchTooLarge) {
		t.Fatalf("oversize batch: %v", err)
	}
}

// TestPHISmuggling: a string inside data could carry a name or phone number;
// the store refuses it even if an upstream check was bypassed.
func testPHISmuggling(t *testing.T, s store.Store) {
	r := bp(newDev(), newPat(), 1, t0)
	for _, d := range []string{`{"sys":120,"note":"John Smith"}`, `{"x":["555-0100"]}`, `{"a":{"b":"c"}}`} {
		r.Data = json.RawMessage(d)
		_, err := s.Insert(context.Background(), []store.Reading{r})
		if !errors.Is(err, store.ErrInvalidReading) {
			t.Fatalf("string in data accepted: %v", err)
		}
		if strings.Contains(err.Error(), "Smith") || strings.Contains(err.Error(), "555") {
			t.Fatalf("error echoes the value: %v", err)
		}
	}
}

func testInvalidQueries(t *testing.T, s store.Store) {
	ctx := context.Background()
	pat := newPat()
	for name, r := range map[string]store.Range{
		"empty":    {From: t0, To: t0},
		"reversed": {From: t0, To: t0.Add(-time.Hour)},
		"zero":     {},
		"limit":    {From: t0, To: t0.Add(time.Hour), Limit: store.MaxLimit + 1},
		"negative": {From: t0, To: t0.Add(time.Hour), Limit: -1},
		"kind":     {From: t0, To: t0.Add(time.Hour), Kind: "x'; DROP TABLE"},
	} {
		if _, err := s.ByPatient(ctx, pat, r); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("%s: %v, want ErrInvalidQuery", name, err)
		}
	}
	if _, err := s.ByPatient(ctx, iomt.PatientID{}, store.Range{From: t0, To: t0.Add(time.Hour)}); !errors.Is(err, store.ErrInvalidQuery) {
		t.Errorf("nil patient: %v", err)
	}
	if _, err := s.LatestByPatient(ctx, iomt.PatientID{}); !errors.Is(err, store.ErrInvalidQuery) {
		t.Errorf("nil patient latest: %v", err)
	}
}

// Several ingest workers receive overlapping redeliveries at once.
func testConcurrent(t *testing.T, s store.Store) {
	pat := newPat()
	devs := []iomt.DeviceID{newDev(), newDev()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	inserted := 0
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 10 {
				var batch []store.Reading
				for i := range 25 {
					seq := uint64((b*25+i+w*60)%250 + 1)
					batch = append(batch, bp(devs[int(seq)%2], pat, seq, t0.Add(time.Duration(seq)*time.Second)))
				}
				res, err := s.Insert(context.Background(), batch)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inserted += res.Inserted
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if got := len(all(t, s, pat)); got != 250 || inserted != 250 {
		t.Fatalf("%d rows, %d reported inserted; want 250 each", got, inserted)
	}
}

func testCancelled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := bp(newDev(), newPat(), 1, t0)
	if _, err := s.Insert(ctx, []store.Reading{r}); err == nil {
		t.Fatal("Insert with a cancelled context succeeded")
	}
	if got := all(t, s, r.PatientID); len(got) != 0 {
		t.Fatal("cancelled Insert stored a row")
	}
}

func testClosed(t *testing.T, s store.Store) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Insert(context.Background(), []store.Reading{bp(newDev(), newPat(), 1, t0)}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Insert after Close: %v", err)
	}
}

func newDev() iomt.DeviceID {
	id, err := iomt.NewDeviceID(nil)
	if err != nil {
		panic(err)
	}
	return id
}

func newPat() iomt.PatientID {
	id, err := iomt.NewPatientID(nil)
	if err != nil {
		panic(err)
	}
	return id
}
