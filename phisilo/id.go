package phisilo

import (
	"fmt"
	"io"

	"github.com/openiomt/sdk/iomt"
)

// PatientID is the shared [iomt.PatientID]: a random UUID issued by the
// silo at registration, never derived from patient data (HIPAA
// 164.514(c)), so it is not PHI by itself; only the silo joins it to a
// person.
type PatientID = iomt.PatientID

// NewPatientID draws a version-4 patient ID from rand (crypto/rand if nil).
func NewPatientID(rand io.Reader) (PatientID, error) {
	id, err := iomt.NewPatientID(rand)
	if err != nil {
		return PatientID{}, fmt.Errorf("phisilo: patient id: %w", err)
	}
	return id, nil
}

// ParsePatientID parses the canonical lowercase form strictly (see
// [iomt.ParsePatientID]); a bad ID is a [*FieldError] naming "patient_id"
// that also matches [iomt.ErrInvalidID].
func ParsePatientID(s string) (PatientID, error) {
	id, err := iomt.ParsePatientID(s)
	if err != nil {
		return PatientID{}, &idError{}
	}
	return id, nil
}

// idError is a FieldError that also unwraps to iomt.ErrInvalidID.
type idError struct{}

func (*idError) Error() string { return "phisilo: invalid field patient_id: not a canonical UUID" }

// Unwrap returns the FieldError (and so ErrInvalid) and iomt.ErrInvalidID.
func (*idError) Unwrap() []error {
	return []error{&FieldError{Field: "patient_id", Reason: "not a canonical UUID"}, iomt.ErrInvalidID}
}
