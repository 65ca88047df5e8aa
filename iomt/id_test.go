package iomt

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

const (
	v4 = "0f8fad5b-d9cb-469f-a165-70867728950e"
	v7 = "01936e2b-4f00-7abc-8def-0123456789ab"
)

func TestParseStrictAccepts(t *testing.T) {
	for _, s := range []string{v4, v7, "00000000-0000-4000-8000-000000000000", "ffffffff-ffff-4fff-bfff-ffffffffffff"} {
		d, err := ParseDeviceID(s)
		if err != nil {
			t.Fatalf("ParseDeviceID(%q): %v", s, err)
		}
		if d.String() != s {
			t.Fatalf("String() = %q, want %q", d.String(), s)
		}
		p, err := ParsePatientID(s)
		if err != nil || p.String() != s {
			t.Fatalf("ParsePatientID(%q) = %v, %v", s, p, err)
		}
		if d.UUID() != uuid.MustParse(s) || p.UUID() != uuid.MustParse(s) {
			t.Fatal("UUID() differs from google/uuid")
		}
	}
}

func TestParseStrictRejects(t *testing.T) {
	cases := map[string]string{
		"uppercase":         strings.ToUpper(v4),
		"mixed case":        "0F8fad5b-d9cb-469f-a165-70867728950e",
		"braces":            "{" + v4 + "}",
		"urn prefix":        "urn:uuid:" + v4,
		"no hyphens":        strings.ReplaceAll(v4, "-", ""),
		"nil UUID":          "00000000-0000-0000-0000-000000000000",
		"max UUID":          "ffffffff-ffff-ffff-ffff-ffffffffffff",
		"version 1":         "0f8fad5b-d9cb-169f-a165-70867728950e",
		"version 3":         "0f8fad5b-d9cb-369f-a165-70867728950e",
		"version 5":         "0f8fad5b-d9cb-569f-a165-70867728950e",
		"version 8":         "0f8fad5b-d9cb-869f-a165-70867728950e",
		"NCS variant":       "0f8fad5b-d9cb-469f-7165-70867728950e",
		"Microsoft variant": "0f8fad5b-d9cb-469f-c165-70867728950e",
		"future variant":    "0f8fad5b-d9cb-469f-e165-70867728950e",
		"empty":             "",
		"short":             v4[:35],
		"long":              v4 + "0",
		"hyphen moved":      "0f8fad5bd-9cb-469f-a165-70867728950e",
		"non-hex":           "0f8fad5b-d9cb-469f-a165-70867728950g",
		"space":             " " + v4[1:],
		"plus sign":         "+f8fad5b-d9cb-469f-a165-70867728950e",
		"unicode":           "0f8fad5b-d9cb-469f-a165-7086772895é",
	}
	for name, s := range cases {
		if _, err := ParseDeviceID(s); !errors.Is(err, ErrInvalidID) {
			t.Errorf("%s: ParseDeviceID(%q) err = %v", name, s, err)
		}
		if _, err := ParsePatientID(s); !errors.Is(err, ErrInvalidID) {
			t.Errorf("%s: ParsePatientID(%q) err = %v", name, s, err)
		}
		var d DeviceID
		if err := d.UnmarshalText([]byte(s)); !errors.Is(err, ErrInvalidID) || !d.IsZero() {
			t.Errorf("%s: UnmarshalText err = %v, id %v", name, err, d)
		}
	}
}

func TestInvalidIDErrorHidesInput(t *testing.T) {
	_, err := ParsePatientID("7C9E6679-7425-40DE-944B-E07FC1F90AE7")
	if strings.Contains(strings.ToLower(err.Error()), "7c9e6679") {
		t.Fatalf("error %q echoes the input", err)
	}
}

func TestMustParsePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"device":  func() { MustParseDeviceID("nope") },
		"patient": func() { MustParsePatientID(strings.ToUpper(v4)) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// counter is a deterministic "random" source: bytes 0, 1, 2, …
type counter struct{ n byte }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

func TestNewIDsInjectedRandomness(t *testing.T) {
	d, err := NewDeviceID(&counter{})
	if err != nil {
		t.Fatal(err)
	}
	// Bytes 00..0f with the version nibble forced to 4 and the variant to 10.
	if got, want := d.String(), "00010203-0405-4607-8809-0a0b0c0d0e0f"; got != want {
		t.Fatalf("NewDeviceID = %s, want %s", got, want)
	}
	p, err := NewPatientID(&counter{n: 0xf0})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.String(), "f0f1f2f3-f4f5-46f7-b8f9-fafbfcfdfeff"; got != want {
		t.Fatalf("NewPatientID = %s, want %s", got, want)
	}
	again, _ := NewPatientID(&counter{n: 0xf0})
	if again != p {
		t.Fatal("same randomness, different ID")
	}
	if _, err := ParsePatientID(p.String()); err != nil {
		t.Fatalf("generated ID does not parse: %v", err)
	}
}

func TestNewIDsCryptoRandDefault(t *testing.T) {
	a, err1 := NewDeviceID(nil)
	b, err2 := NewDeviceID(nil)
	if err1 != nil || err2 != nil || a == b || a.IsZero() {
		t.Fatalf("%v %v %v %v", a, b, err1, err2)
	}
	if a.UUID().Version() != 4 || a.UUID().Variant() != uuid.RFC4122 {
		t.Fatalf("version %d variant %v", a.UUID().Version(), a.UUID().Variant())
	}
}

func TestNewIDsShortRandomness(t *testing.T) {
	_, err := NewPatientID(bytes.NewReader(make([]byte, 15)))
	if err == nil || !strings.HasPrefix(err.Error(), "iomt: ") {
		t.Fatalf("short randomness: %v", err)
	}
	_, err = NewDeviceIDV7(nil, bytes.NewReader(nil))
	if err == nil {
		t.Fatal("v7 with empty randomness succeeded")
	}
}

func TestNewDeviceIDV7TimePrefix(t *testing.T) {
	now := time.Date(2026, 1, 1, 8, 30, 0, 123e6, time.UTC)
	d, err := NewDeviceIDV7(func() time.Time { return now }, &counter{})
	if err != nil {
		t.Fatal(err)
	}
	u := d.UUID()
	if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
		t.Fatalf("version %d variant %v", u.Version(), u.Variant())
	}
	sec, nsec := u.Time().UnixTime()
	if got := time.Unix(sec, nsec); !got.Equal(now) {
		t.Fatalf("time prefix %v, want %v", got, now)
	}
	var ms uint64
	for _, b := range d[:6] {
		ms = ms<<8 | uint64(b)
	}
	if ms != uint64(now.UnixMilli()) {
		t.Fatalf("prefix %d ms, want %d", ms, now.UnixMilli())
	}
	// Later time sorts later.
	later, _ := NewDeviceIDV7(func() time.Time { return now.Add(time.Millisecond) }, &counter{})
	if !(d.String() < later.String()) {
		t.Fatal("v7 IDs not time-ordered")
	}
	if _, err := ParseDeviceID(d.String()); err != nil {
		t.Fatalf("v7 ID does not parse: %v", err)
	}
}

func TestNewDeviceIDV7OutOfRangeTime(t *testing.T) {
	for _, ts := range []time.Time{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10899, 1, 1, 0, 0, 0, 0, time.UTC)} {
		_, err := NewDeviceIDV7(func() time.Time { return ts }, &counter{})
		if !errors.Is(err, ErrOutOfRange) {
			t.Errorf("time %v: err = %v, want ErrOutOfRange", ts, err)
		}
	}
}

func TestIDJSON(t *testing.T) {
	type pair struct {
		Dev DeviceID  `json:"dev"`
		Pat PatientID `json:"pat"`
	}
	in := pair{MustParseDeviceID(v4), MustParsePatientID(v7)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"dev":"` + v4 + `","pat":"` + v7 + `"}`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
	var out pair
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip %+v, %v", out, err)
	}
	bad := `{"dev":"` + strings.ToUpper(v4) + `","pat":"` + v7 + `"}`
	if err := json.Unmarshal([]byte(bad), &out); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("uppercase JSON: %v", err)
	}
	if _, err := json.Marshal(pair{}); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("zero IDs marshal: %v", err)
	}
}

func TestIDText(t *testing.T) {
	d := MustParseDeviceID(v4)
	b, err := d.MarshalText()
	if err != nil || string(b) != v4 {
		t.Fatalf("%s %v", b, err)
	}
	b, err = d.AppendText([]byte("dev="))
	if err != nil || string(b) != "dev="+v4 {
		t.Fatalf("%s %v", b, err)
	}
	p := MustParsePatientID(v7)
	b, err = p.AppendText(nil)
	if err != nil || string(b) != v7 {
		t.Fatalf("%s %v", b, err)
	}
	var p2 PatientID
	if err := p2.UnmarshalText([]byte(v7)); err != nil || p2 != p {
		t.Fatalf("%v %v", p2, err)
	}
	if _, err := (PatientID{}).MarshalText(); !errors.Is(err, ErrInvalidID) {
		t.Fatal("zero PatientID marshals")
	}
	if b, err := (DeviceID{}).AppendText([]byte("x")); !errors.Is(err, ErrInvalidID) || string(b) != "x" {
		t.Fatal("zero DeviceID appends")
	}
	if b, err := (PatientID{}).AppendText(nil); !errors.Is(err, ErrInvalidID) || len(b) != 0 {
		t.Fatal("zero PatientID appends")
	}
	if !(DeviceID{}).IsZero() || !(PatientID{}).IsZero() || d.IsZero() {
		t.Fatal("IsZero")
	}
}

func TestPatientIDLogValueRedacts(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("reading", "patient", MustParsePatientID(v4))
	out := buf.String()
	if strings.Contains(out, v4) || !strings.Contains(out, v4[:8]) {
		t.Fatalf("log %q", out)
	}
}
