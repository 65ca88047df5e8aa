package iomt

import (
	"errors"
	"testing"

	"github.com/google/uuid"
)

// canonicalRef is an independent statement of the identifier rules on top
// of google/uuid: it parses, is spelled exactly as google/uuid formats it
// (lowercase, hyphenated, 36 bytes), has the RFC 9562 variant, version 4 or 7.
func canonicalRef(s string) bool {
	u, err := uuid.Parse(s)
	if err != nil || u.String() != s {
		return false
	}
	return u.Variant() == uuid.RFC4122 && (u.Version() == 4 || u.Version() == 7)
}

func seedIDs(f *testing.F) {
	for _, s := range []string{v4, v7, "", "urn:uuid:" + v4, "{" + v4 + "}", "0F8FAD5B-D9CB-469F-A165-70867728950E",
		"00000000-0000-0000-0000-000000000000", "0f8fad5b-d9cb-169f-a165-70867728950e", "0f8fad5bd9cb469fa16570867728950e"} {
		f.Add(s)
	}
}

func FuzzParseDeviceID(f *testing.F) {
	seedIDs(f)
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseDeviceID(s)
		if ok := canonicalRef(s); ok != (err == nil) {
			t.Fatalf("ParseDeviceID(%q) err = %v, reference accepts = %v", s, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("error %v is not ErrInvalidID", err)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("String() = %q, input %q", id.String(), s)
		}
		b, err := id.MarshalText()
		if err != nil || string(b) != s {
			t.Fatalf("MarshalText = %q, %v", b, err)
		}
	})
}

func FuzzParsePatientID(f *testing.F) {
	seedIDs(f)
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParsePatientID(s)
		if ok := canonicalRef(s); ok != (err == nil) {
			t.Fatalf("ParsePatientID(%q) err = %v, reference accepts = %v", s, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("error %v is not ErrInvalidID", err)
			}
			return
		}
		var back PatientID
		if err := back.UnmarshalText([]byte(id.String())); err != nil || back != id || id.String() != s {
			t.Fatalf("round trip %q -> %q (%v)", s, id.String(), err)
		}
	})
}
