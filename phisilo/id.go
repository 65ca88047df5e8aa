package phisilo

import (
	"fmt"
	"io"

	"github.com/google/uuid"
)

// PatientID is a random (version 4) UUID naming a patient. It is never
// derived from patient data (HIPAA 164.514(c)), so it is not PHI by itself;
// only the silo can join it to a person.
//
// It marshals as the canonical lowercase string and parses strictly
// (36 characters, hyphenated, version 4, RFC 4122 variant).
type PatientID [16]byte

// NewPatientID draws a version-4 UUID from rand.
func NewPatientID(rand io.Reader) (PatientID, error) {
	u, err := uuid.NewRandomFromReader(rand)
	if err != nil {
		return PatientID{}, fmt.Errorf("phisilo: patient id: %w", err)
	}
	return PatientID(u), nil
}

// ParsePatientID parses the canonical form strictly.
func ParsePatientID(s string) (PatientID, error) {
	if len(s) != 36 {
		return PatientID{}, &FieldError{Field: "patient_id", Reason: "not a canonical UUID"}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'F' {
			return PatientID{}, &FieldError{Field: "patient_id", Reason: "not lowercase"}
		}
	}
	u, err := uuid.Parse(s)
	if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 {
		return PatientID{}, &FieldError{Field: "patient_id", Reason: "not a random UUID"}
	}
	return PatientID(u), nil
}

// IsZero reports whether id is the zero value.
func (id PatientID) IsZero() bool { return id == PatientID{} }

// String returns the canonical lowercase form.
func (id PatientID) String() string { return uuid.UUID(id).String() }

// MarshalText implements [encoding.TextMarshaler].
func (id PatientID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParsePatientID].
func (id *PatientID) UnmarshalText(b []byte) error {
	p, err := ParsePatientID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}
