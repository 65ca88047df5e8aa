package phisilo

import (
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SchemaVersion is the version of the [Record] encoding sealed by this
// package. It is bound into each ciphertext's associated data, so a record
// cannot be replayed under another schema.
const SchemaVersion = 1

// Limits on a record. They bound what a caller (ultimately the phone app
// on the public internet) can make the silo store and encrypt.
const (
	MaxFieldBytes  = 512      // any single string field
	MaxExtensions  = 32       // entries in Record.Extensions
	MaxAddressLine = 4        // entries in Address.Lines
	MaxRecordBytes = 64 << 10 // the encoded record
	maxExtKeyBytes = 64
)

// Record is a patient's registration data: the PHI the silo exists to
// protect. The zero value is an empty record; Validate checks it.
//
// Record implements [slog.LogValuer] and prints as "[REDACTED]", so an
// accidental log call does not leak it.
type Record struct {
	Name             Name              `json:"name"`
	BirthDate        string            `json:"birth_date,omitempty"` // YYYY-MM-DD
	Contact          Contact           `json:"contact"`
	Address          Address           `json:"address"`
	Physician        Physician         `json:"physician"`
	EmergencyContact EmergencyContact  `json:"emergency_contact"`
	Consent          Consent           `json:"consent"`
	Extensions       map[string]string `json:"extensions,omitempty"` // site-specific fields; keys [a-z0-9_.-]
}

// Name is a person's name.
type Name struct {
	Given  string `json:"given,omitempty"`
	Family string `json:"family,omitempty"`
}

// Contact holds a patient's phone and e-mail.
type Contact struct {
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// Address is a postal address.
type Address struct {
	Lines      []string `json:"lines,omitempty"`
	City       string   `json:"city,omitempty"`
	State      string   `json:"state,omitempty"`
	PostalCode string   `json:"postal_code,omitempty"`
	Country    string   `json:"country,omitempty"` // ISO 3166-1 alpha-2
}

// Physician is the patient's treating physician.
type Physician struct {
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
	NPI   string `json:"npi,omitempty"`
}

// EmergencyContact is the person to call in an emergency.
type EmergencyContact struct {
	Name         string `json:"name,omitempty"`
	Relationship string `json:"relationship,omitempty"`
	Phone        string `json:"phone,omitempty"`
}

// Consent records the patient's consent choices.
type Consent struct {
	Treatment   bool      `json:"treatment"`
	DataSharing bool      `json:"data_sharing"`
	Research    bool      `json:"research"`
	Recorded    time.Time `json:"recorded,omitzero"`
}

// LogValue implements [slog.LogValuer]: a Record never reaches a log.
func (Record) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// Section names a part of a record. Sharing grants are scoped to sections.
type Section string

// Record sections.
const (
	SectionDemographics Section = "demographics" // name, birth date
	SectionContact      Section = "contact"
	SectionAddress      Section = "address"
	SectionPhysician    Section = "physician"
	SectionEmergency    Section = "emergency_contact"
	SectionConsent      Section = "consent"
	SectionExtensions   Section = "extensions"
)

var allSections = [...]Section{SectionDemographics, SectionContact, SectionAddress, SectionPhysician, SectionEmergency, SectionConsent, SectionExtensions}

// AllSections returns every section, in a fixed order (a new slice each call).
func AllSections() []Section { return append([]Section(nil), allSections[:]...) }

func (s Section) valid() bool {
	for _, v := range allSections {
		if s == v {
			return true
		}
	}
	return false
}

// Only returns a copy of r keeping only the given sections.
func (r Record) Only(sections []Section) Record {
	var out Record
	for _, s := range sections {
		switch s {
		case SectionDemographics:
			out.Name, out.BirthDate = r.Name, r.BirthDate
		case SectionContact:
			out.Contact = r.Contact
		case SectionAddress:
			out.Address = r.Address
			out.Address.Lines = append([]string(nil), r.Address.Lines...)
		case SectionPhysician:
			out.Physician = r.Physician
		case SectionEmergency:
			out.EmergencyContact = r.EmergencyContact
		case SectionConsent:
			out.Consent = r.Consent
		case SectionExtensions:
			if r.Extensions != nil {
				out.Extensions = make(map[string]string, len(r.Extensions))
				for k, v := range r.Extensions {
					out.Extensions[k] = v
				}
			}
		}
	}
	return out
}

// Validate checks lengths, encodings and formats. Errors name the field,
// never its value.
func (r *Record) Validate() error {
	fields := []struct{ name, v string }{
		{"name.given", r.Name.Given}, {"name.family", r.Name.Family},
		{"birth_date", r.BirthDate},
		{"contact.phone", r.Contact.Phone}, {"contact.email", r.Contact.Email},
		{"address.city", r.Address.City}, {"address.state", r.Address.State},
		{"address.postal_code", r.Address.PostalCode}, {"address.country", r.Address.Country},
		{"physician.name", r.Physician.Name}, {"physician.phone", r.Physician.Phone}, {"physician.npi", r.Physician.NPI},
		{"emergency_contact.name", r.EmergencyContact.Name},
		{"emergency_contact.relationship", r.EmergencyContact.Relationship},
		{"emergency_contact.phone", r.EmergencyContact.Phone},
	}
	for _, f := range fields {
		if err := checkText(f.name, f.v); err != nil {
			return err
		}
	}
	if len(r.Address.Lines) > MaxAddressLine {
		return &LimitError{Limit: "MaxAddressLine", Max: MaxAddressLine}
	}
	for _, l := range r.Address.Lines {
		if err := checkText("address.lines", l); err != nil {
			return err
		}
	}
	if r.BirthDate != "" {
		if _, err := time.Parse(time.DateOnly, r.BirthDate); err != nil {
			return &FieldError{Field: "birth_date", Reason: "not a YYYY-MM-DD date"}
		}
	}
	if r.Contact.Email != "" && !strings.Contains(r.Contact.Email, "@") {
		return &FieldError{Field: "contact.email", Reason: "not an e-mail address"}
	}
	if len(r.Extensions) > MaxExtensions {
		return &LimitError{Limit: "MaxExtensions", Max: MaxExtensions}
	}
	for k, v := range r.Extensions {
		if k == "" || len(k) > maxExtKeyBytes {
			return &FieldError{Field: "extensions", Reason: "key length"}
		}
		for _, c := range k {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
				return &FieldError{Field: "extensions", Reason: "key characters"}
			}
		}
		if err := checkText("extensions", v); err != nil {
			return err
		}
	}
	return nil
}

func checkText(field, v string) error {
	if len(v) > MaxFieldBytes {
		return &LimitError{Limit: "MaxFieldBytes", Max: MaxFieldBytes}
	}
	if !utf8.ValidString(v) {
		return &FieldError{Field: field, Reason: "not UTF-8"}
	}
	for _, c := range v {
		if unicode.IsControl(c) {
			return &FieldError{Field: field, Reason: "control character"}
		}
	}
	return nil
}
