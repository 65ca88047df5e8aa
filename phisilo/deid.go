package phisilo

import (
	"strings"
	"time"
)

// DeidentifiedRecord is the HIPAA Safe Harbor view (45 CFR 164.514(b)(2))
// of a record that support staff see: the 18 identifiers are removed or
// generalised. Names, street address, city, phone, e-mail, physician and
// emergency contact are removed; dates are reduced to the year; ages over
// 89 are aggregated; the ZIP code is cut to its first three digits, or
// "000" for the three-digit areas with 20,000 people or fewer. The patient
// ID is kept: it is a random code not derived from PHI (164.514(c)).
type DeidentifiedRecord struct {
	Patient             PatientID `json:"patient"`
	BirthYear           int       `json:"birth_year,omitempty"` // 0 when unknown or age over 89
	AgeOver89           bool      `json:"age_over_89,omitempty"`
	State               string    `json:"state,omitempty"`
	ZIP3                string    `json:"zip3,omitempty"`
	Country             string    `json:"country,omitempty"`
	HasPhysician        bool      `json:"has_physician"`
	HasEmergencyContact bool      `json:"has_emergency_contact"`
	Consent             struct {
		Treatment   bool `json:"treatment"`
		DataSharing bool `json:"data_sharing"`
		Research    bool `json:"research"`
		Year        int  `json:"year,omitempty"`
	} `json:"consent"`
}

// restrictedZIP3 are the three-digit ZIP areas with 20,000 people or fewer
// (2000 census, per HHS guidance), which Safe Harbor replaces with "000".
var restrictedZIP3 = map[string]bool{
	"036": true, "059": true, "063": true, "102": true, "203": true, "556": true,
	"692": true, "790": true, "821": true, "823": true, "830": true, "831": true,
	"878": true, "879": true, "884": true, "890": true, "893": true,
}

// Deidentify applies Safe Harbor to rec as of now.
func Deidentify(id PatientID, rec Record, now time.Time) DeidentifiedRecord {
	d := DeidentifiedRecord{Patient: id, Country: strings.ToUpper(rec.Address.Country)}
	if len(d.Country) != 2 {
		d.Country = ""
	}
	if b, err := time.Parse(time.DateOnly, rec.BirthDate); err == nil {
		age := now.Year() - b.Year()
		if now.YearDay() < b.YearDay() {
			age--
		}
		if age > 89 {
			d.AgeOver89 = true
		} else {
			d.BirthYear = b.Year()
		}
	}
	if d.Country == "US" || d.Country == "" {
		d.State = rec.Address.State
		if len(d.State) > 2 {
			d.State = "" // free text could name a smaller place; keep only codes
		}
		zip := rec.Address.PostalCode
		if len(zip) >= 3 && isDigits(zip[:3]) {
			d.ZIP3 = zip[:3]
			if restrictedZIP3[d.ZIP3] {
				d.ZIP3 = "000"
			}
		}
	}
	d.HasPhysician = rec.Physician != (Physician{})
	d.HasEmergencyContact = rec.EmergencyContact != (EmergencyContact{})
	d.Consent.Treatment = rec.Consent.Treatment
	d.Consent.DataSharing = rec.Consent.DataSharing
	d.Consent.Research = rec.Consent.Research
	if !rec.Consent.Recorded.IsZero() {
		d.Consent.Year = rec.Consent.Recorded.Year()
	}
	return d
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
