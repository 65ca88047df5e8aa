package phisilo

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ExportFormat names an audit export format.
type ExportFormat string

// Export formats.
const (
	// ExportJSONL writes one AuditRecord JSON object per line.
	ExportJSONL ExportFormat = "jsonl"
	// ExportFHIR writes one FHIR R4 AuditEvent resource per line
	// (NDJSON, as in FHIR Bulk Data).
	ExportFHIR ExportFormat = "fhir"
	// ExportCEF writes one ArcSight Common Event Format line per event,
	// for a SIEM.
	ExportCEF ExportFormat = "cef"
)

// ParseExportFormat parses "jsonl", "fhir" or "cef".
func ParseExportFormat(s string) (ExportFormat, error) {
	switch f := ExportFormat(s); f {
	case ExportJSONL, ExportFHIR, ExportCEF:
		return f, nil
	}
	return "", &FieldError{Field: "format", Reason: "must be jsonl, fhir or cef"}
}

// ExportAudit writes records to w in format f.
func ExportAudit(w io.Writer, f ExportFormat, records []AuditRecord) error {
	bw := bufio.NewWriter(w)
	for _, r := range records {
		var err error
		switch f {
		case ExportJSONL:
			err = writeJSONLine(bw, r)
		case ExportFHIR:
			err = writeJSONLine(bw, r.FHIR())
		case ExportCEF:
			_, err = bw.WriteString(r.CEF() + "\n")
		default:
			return &FieldError{Field: "format", Reason: "must be jsonl, fhir or cef"}
		}
		if err != nil {
			return fmt.Errorf("phisilo: export: %w", err)
		}
	}
	return bw.Flush()
}

func writeJSONLine(w *bufio.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

type reference struct {
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// FHIRAuditEvent is an R4 AuditEvent resource (the subset the silo fills).
type FHIRAuditEvent struct {
	ResourceType   string            `json:"resourceType"`
	ID             string            `json:"id"`
	Type           coding            `json:"type"`
	Subtype        []coding          `json:"subtype"`
	Action         string            `json:"action"`
	Recorded       string            `json:"recorded"`
	Outcome        string            `json:"outcome"`
	OutcomeDesc    string            `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []codeableConcept `json:"purposeOfEvent,omitempty"`
	Agent          []fhirAgent       `json:"agent"`
	Source         fhirSource        `json:"source"`
	Entity         []fhirEntity      `json:"entity,omitempty"`
}

type fhirAgent struct {
	Type      *codeableConcept `json:"type,omitempty"`
	Who       reference        `json:"who"`
	Requestor bool             `json:"requestor"`
	Network   *fhirNetwork     `json:"network,omitempty"`
}

type fhirNetwork struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

type fhirSource struct {
	Site     string    `json:"site,omitempty"`
	Observer reference `json:"observer"`
	Type     []coding  `json:"type"`
}

type fhirEntity struct {
	What        reference `json:"what"`
	Type        *coding   `json:"type,omitempty"`
	Description string    `json:"description,omitempty"`
}

// FHIR converts a record to a FHIR R4 AuditEvent: type DICOM
// 110110 "Patient Record", action C/R/U/D/E, outcome 0 (success), 4
// (denied or failed) or 8 (not decodable), purpose of use from HL7 v3
// ActReason, the user as requesting agent and the patient UUID as entity.
func (r AuditRecord) FHIR() FHIRAuditEvent {
	ev := r.Event
	out := FHIRAuditEvent{
		ResourceType: "AuditEvent",
		ID:           "phisilo-" + strconv.FormatUint(r.Seq, 10),
		Type:         coding{System: "http://dicom.nema.org/resources/ontology/DCM", Code: "110110", Display: "Patient Record"},
		Subtype:      []coding{{System: "urn:openiomt:phisilo:action", Code: string(ev.Action)}},
		Action:       fhirAction(ev.Action),
		Recorded:     ev.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Outcome:      "0",
		Agent: []fhirAgent{{
			Type:      &codeableConcept{Coding: []coding{{System: "urn:openiomt:phisilo:role", Code: string(ev.Role)}}},
			Who:       reference{Identifier: &identifier{System: "urn:openiomt:phisilo:user", Value: ev.UserID}},
			Requestor: true,
		}},
		Source: fhirSource{Site: ev.Tenant, Observer: reference{Display: "openiomt phisilo"},
			Type: []coding{{System: "http://terminology.hl7.org/CodeSystem/security-source-type", Code: "4", Display: "Application Server"}}},
	}
	if ev.Outcome != OutcomeSuccess {
		out.Outcome = "4"
		out.OutcomeDesc = string(ev.Outcome)
		if ev.Reason != "" {
			out.OutcomeDesc += ": " + ev.Reason
		}
	}
	if ev.Purpose != "" {
		out.PurposeOfEvent = []codeableConcept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/v3-ActReason", Code: string(ev.Purpose)}}}}
	}
	if ev.Source != "" {
		out.Agent[0].Network = &fhirNetwork{Address: ev.Source, Type: "2"}
	}
	if ev.Patient != "" {
		out.Entity = append(out.Entity, fhirEntity{What: reference{Identifier: &identifier{System: "urn:openiomt:patient", Value: ev.Patient}},
			Type: &coding{System: "http://terminology.hl7.org/CodeSystem/audit-entity-type", Code: "1", Display: "Person"}})
	}
	if ev.Justification != "" {
		out.Entity = append(out.Entity, fhirEntity{What: reference{Display: "break-glass"}, Description: ev.Justification})
	}
	out.Entity = append(out.Entity, fhirEntity{What: reference{Identifier: &identifier{System: "urn:openiomt:phisilo:audit-chain", Value: r.Hash}}})
	return out
}

func fhirAction(a Action) string {
	switch a {
	case ActionRegister, ActionGrant:
		return "C"
	case ActionRead, ActionReadDeidentified, ActionBreakGlass, ActionListGrants, ActionQueryAudit, ActionListPatients:
		return "R"
	case ActionUpdate, ActionRevoke, ActionManageAccounts, ActionRewrap:
		return "U"
	case ActionDelete:
		return "D"
	}
	return "E"
}

var (
	cefHeader = strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\n", " ", "\r", " ")
	cefExt    = strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\n", `\n`, "\r", `\r`)
)

// CEF renders a record as one CEF:0 line (no trailing newline). Header
// fields escape "|" and "\", extension values "=" and "\" and newlines, so
// a hostile value cannot forge fields or lines.
func (r AuditRecord) CEF() string {
	ev := r.Event
	sev := "3"
	switch {
	case ev.Alert:
		sev = "9"
	case ev.Outcome == OutcomeDenied:
		sev = "6"
	case ev.Outcome == OutcomeFailure:
		sev = "4"
	}
	var b strings.Builder
	b.WriteString("CEF:0|openiomt|phisilo|1|")
	b.WriteString(cefHeader.Replace(string(ev.Action)))
	b.WriteString("|PHI " + cefHeader.Replace(string(ev.Action)) + " " + cefHeader.Replace(string(ev.Outcome)))
	b.WriteString("|" + sev + "|")
	ext := []struct{ k, v string }{
		{"rt", strconv.FormatInt(ev.Time.UnixMilli(), 10)},
		{"suser", ev.UserID},
		{"act", string(ev.Action)},
		{"outcome", string(ev.Outcome)},
		{"reason", ev.Reason},
		{"duid", ev.Patient},
		{"cs1Label", "role"}, {"cs1", string(ev.Role)},
		{"cs2Label", "purpose"}, {"cs2", string(ev.Purpose)},
		{"cs3Label", "source"}, {"cs3", ev.Source},
		{"cs4Label", "chainHash"}, {"cs4", r.Hash},
		{"cs5Label", "grant"}, {"cs5", ev.GrantID},
		{"cs6Label", "tenant"}, {"cs6", ev.Tenant},
		{"cn1Label", "seq"}, {"cn1", strconv.FormatUint(r.Seq, 10)},
		{"msg", ev.Justification},
	}
	first := true
	for _, e := range ext {
		if e.v == "" {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(e.k + "=" + cefExt.Replace(e.v))
	}
	return b.String()
}
