package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// PayloadVersion is the only payload "v" this package writes and accepts.
const PayloadVersion = 1

// Payload is the signed content of a telemetry envelope:
//
//	{"v":1,"dev":UUID,"pat":UUID,"seq":N,"ts":RFC3339Nano,"kind":KIND,"data":{...}}
//
// The schema is closed: no other members exist, and "data" holds only the
// numeric members of the reading type for "kind" (the PHI guard).
type Payload struct {
	// Version is the payload "v"; always [PayloadVersion].
	Version int
	// Device is "dev", the sending device. It equals the JWS "kid".
	Device iomt.DeviceID
	// Patient is "pat", the pseudonymous patient UUID issued by the PHI silo.
	Patient iomt.PatientID
	// Seq is "seq", strictly increasing per device.
	Seq uint64
	// Time is "ts", when the measurement was taken, in UTC.
	Time time.Time
	// Kind is "kind", the measurement type.
	Kind iomt.Kind
	// Reading is the decoded "data": an [iomt.BloodPressure],
	// [iomt.HeartRate] or [iomt.Glucose] value (not a pointer) whose
	// MeasuredAt equals Time.
	Reading iomt.Reading
}

// MarshalJSON returns the canonical payload JSON, members in the order of
// the contract. It fails if an identifier is zero, the kind is unknown or
// the reading does not pass the PHI guard.
func (p *Payload) MarshalJSON() ([]byte, error) {
	data, err := marshalData(p.Kind, p.Reading)
	if err != nil {
		return nil, err
	}
	if p.Device.IsZero() || p.Patient.IsZero() {
		return nil, fmt.Errorf("%w: zero dev or pat", iomt.ErrInvalidID)
	}
	if p.Time.IsZero() {
		return nil, fmt.Errorf("%w: zero ts", ErrInvalidReading)
	}
	return appendPayload(nil, p, data), nil
}

// LogValue implements slog.LogValuer. It logs the device, kind, sequence
// number and time, a short patient prefix, and never the measured values.
func (p *Payload) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("dev", p.Device.String()),
		slog.Any("pat", p.Patient),
		slog.Uint64("seq", p.Seq),
		slog.Time("ts", p.Time),
		slog.String("kind", string(p.Kind)),
	)
}

// appendPayload writes the canonical payload with data already marshalled.
func appendPayload(b []byte, p *Payload, data []byte) []byte {
	b = append(b, `{"v":1,"dev":"`...)
	b, _ = p.Device.AppendText(b)
	b = append(b, `","pat":"`...)
	b, _ = p.Patient.AppendText(b)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, p.Seq, 10)
	b = append(b, `,"ts":"`...)
	b = p.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","kind":"`...)
	b = append(b, p.Kind...)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// marshalData returns the JSON form of r after checking that r is of kind
// and that the result passes the data guard.
func marshalData(kind iomt.Kind, r iomt.Reading) ([]byte, error) {
	if isNil(r) || !kind.Valid() || r.Kind() != kind {
		return nil, fmt.Errorf("%w: reading does not match kind", ErrInvalidReading)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidReading, err)
	}
	if err := CheckData(kind, data); err != nil {
		return nil, err
	}
	return data, nil
}

// dataFields returns the "data" member names of kind, in the order of the
// reading type's JSON form. A test keeps it equal to the iomt struct tags.
func dataFields(kind iomt.Kind) []string {
	switch kind {
	case iomt.KindBloodPressure:
		return []string{"sys", "dia", "map", "unit", "pulse", "status"}
	case iomt.KindHeartRate:
		return []string{"bpm"}
	case iomt.KindGlucose:
		return []string{"conc", "unit", "meal"}
	}
	return nil
}

// maxDataMembers bounds the members of "data" the guard will look at.
const maxDataMembers = 16

// CheckData is the PHI guard for a reading's JSON form, run by both the
// signer and the verifier: data must be one flat JSON object whose members
// are unique, spelled exactly as the reading type for kind defines them,
// and hold only numbers or booleans. A string anywhere fails with
// [ErrPHI]; any other violation with [ErrUnknownField] or [ErrMalformed].
// Errors are [*VerifyError] values naming "data", never the offending text.
func CheckData(kind iomt.Kind, data []byte) error {
	s := scanner{b: data}
	_, err := scanData(&s, kind)
	if err != nil {
		return err
	}
	if !s.eof() {
		return rejectWhy(ErrMalformed, "data", "trailing bytes")
	}
	return nil
}

// scanData consumes the "data" object at the cursor and returns its raw bytes.
func scanData(s *scanner, kind iomt.Kind) ([]byte, error) {
	fields := dataFields(kind)
	if fields == nil {
		return nil, rejectWhy(ErrMalformed, "kind", "unknown kind")
	}
	s.ws()
	start := s.i
	if !s.eat('{') {
		return nil, rejectWhy(ErrMalformed, "data", "not an object")
	}
	var seen uint32
	if s.eat('}') {
		return s.b[start:s.i], nil
	}
	for n := 0; ; n++ {
		if n == maxDataMembers {
			return nil, rejectWhy(ErrOversize, "data", "too many members")
		}
		raw, esc, ok := s.str()
		if !ok {
			return nil, rejectWhy(ErrMalformed, "data", "member name")
		}
		if !s.eat(':') {
			return nil, rejectWhy(ErrMalformed, "data", "expected colon")
		}
		switch s.kind() {
		case vString:
			return nil, rejectWhy(ErrPHI, "data", "string value")
		case vNumber:
			if _, _, ok := s.number(); !ok {
				return nil, rejectWhy(ErrMalformed, "data", "number")
			}
		case vBool:
			if lit, ok := s.literal(); !ok || lit == "null" {
				return nil, rejectWhy(ErrMalformed, "data", "literal")
			}
		default:
			return nil, rejectWhy(ErrMalformed, "data", "value must be a number or boolean")
		}
		idx := -1
		for i, f := range fields {
			if keyIs(raw, esc, f) {
				idx = i
				break
			}
		}
		if idx < 0 {
			if k, ok := unquote(raw, esc); ok && DetectPHI(k) != PHINone {
				return nil, rejectWhy(ErrPHI, "data", "member name")
			}
			return nil, rejectWhy(ErrUnknownField, "data", "member not in schema")
		}
		if seen&(1<<idx) != 0 {
			return nil, rejectWhy(ErrMalformed, "data", "duplicate member")
		}
		seen |= 1 << idx
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			return s.b[start:s.i], nil
		}
		return nil, rejectWhy(ErrMalformed, "data", "expected comma or brace")
	}
}

// Payload member bits for duplicate and presence checks.
const (
	fV = 1 << iota
	fDev
	fPat
	fSeq
	fTS
	fKind
	fData
	fAll = fV | fDev | fPat | fSeq | fTS | fKind | fData
)

var memberNames = [...]string{"v", "dev", "pat", "seq", "ts", "kind", "data"}

// ParsePayload parses payload JSON strictly: exactly the seven members of
// the contract, each once, spelled exactly (no case folding), with valid
// values, and "data" passing [CheckData]. The reading is decoded and its
// MeasuredAt set from "ts"; it is not validated (see [iomt.Reading]).
// It does not verify any signature: use a [Verifier] for untrusted input.
func ParsePayload(b []byte) (*Payload, error) {
	s := scanner{b: b}
	if !s.eat('{') {
		return nil, rejectWhy(ErrMalformed, "", "payload is not an object")
	}
	var (
		p       Payload
		seen    uint
		dataRaw []byte
		dataAt  int
	)
	if !s.eat('}') {
		for {
			raw, esc, ok := s.str()
			if !ok {
				return nil, rejectWhy(ErrMalformed, "", "member name")
			}
			if !s.eat(':') {
				return nil, rejectWhy(ErrMalformed, "", "expected colon")
			}
			bit := 0
			for i, name := range memberNames {
				if keyIs(raw, esc, name) {
					bit = 1 << i
					break
				}
			}
			if bit == 0 {
				return nil, unknownMember(&s, raw, esc)
			}
			if seen&uint(bit) != 0 {
				return nil, rejectWhy(ErrMalformed, memberName(bit), "duplicate member")
			}
			seen |= uint(bit)
			if err := p.member(&s, bit); err != nil {
				return nil, err
			}
			if bit == fData {
				// "kind" may follow "data"; scan data once kind is known.
				dataAt = s.i
				if err := skipObject(&s); err != nil {
					return nil, err
				}
				dataRaw = s.b[dataAt:s.i]
			}
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return nil, rejectWhy(ErrMalformed, "", "expected comma or brace")
		}
	}
	if !s.eof() {
		return nil, rejectWhy(ErrMalformed, "", "trailing bytes")
	}
	if seen != fAll {
		for i, name := range memberNames {
			if seen&(1<<i) == 0 {
				return nil, rejectWhy(ErrMalformed, name, "missing member")
			}
		}
	}
	ds := scanner{b: dataRaw}
	if _, err := scanData(&ds, p.Kind); err != nil {
		return nil, err
	}
	r, err := decodeReading(p.Kind, bytes.TrimSpace(dataRaw), p.Time)
	if err != nil {
		return nil, err
	}
	p.Reading = r
	return &p, nil
}

func memberName(bit int) string {
	for i, name := range memberNames {
		if bit == 1<<i {
			return name
		}
	}
	return ""
}

// member parses the value of one known member (except data's content).
func (p *Payload) member(s *scanner, bit int) error {
	name := memberName(bit)
	switch bit {
	case fV:
		raw, integer, ok := s.number()
		if !ok || !integer {
			return stringOrMalformed(s, name)
		}
		if v, ok := uintValue(raw); !ok || v != PayloadVersion {
			return reject(ErrUnsupportedVersion, name)
		}
		p.Version = PayloadVersion
	case fSeq:
		raw, integer, ok := s.number()
		if !ok || !integer {
			return stringOrMalformed(s, name)
		}
		v, ok := uintValue(raw)
		if !ok {
			return rejectWhy(ErrMalformed, name, "out of range")
		}
		p.Seq = v
	case fData:
		if s.kind() == vString {
			return stringOrMalformed(s, name)
		}
	default:
		raw, esc, ok := s.str()
		if !ok {
			return rejectWhy(ErrMalformed, name, "not a string")
		}
		if !esc && p.fastString(bit, raw[1:len(raw)-1]) {
			return nil
		}
		v, ok := unquote(raw, esc)
		if !ok {
			return rejectWhy(ErrMalformed, name, "string")
		}
		var err error
		switch bit {
		case fDev:
			p.Device, err = iomt.ParseDeviceID(v)
		case fPat:
			p.Patient, err = iomt.ParsePatientID(v)
		case fKind:
			p.Kind, err = iomt.ParseKind(v)
		case fTS:
			p.Time, err = parseTS(v)
		}
		if err != nil {
			if DetectPHI(v) != PHINone && bit != fTS {
				return rejectWhy(ErrPHI, name, "free text")
			}
			return rejectCause(ErrMalformed, name, err)
		}
	}
	return nil
}

// fastString parses the kind and ts members from unescaped bytes without
// allocating, reporting false to fall back to the general path (which also
// produces the error).
func (p *Payload) fastString(bit int, b []byte) bool {
	switch bit {
	case fKind:
		switch string(b) {
		case string(iomt.KindBloodPressure):
			p.Kind = iomt.KindBloodPressure
		case string(iomt.KindHeartRate):
			p.Kind = iomt.KindHeartRate
		case string(iomt.KindGlucose):
			p.Kind = iomt.KindGlucose
		default:
			return false
		}
		return true
	case fTS:
		t, err := parseTSBytes(b)
		if err != nil {
			return false
		}
		p.Time = t
		return true
	}
	return false
}

// parseTS parses an RFC 3339 time with optional fraction and returns it in
// UTC.
func parseTS(v string) (time.Time, error) { return parseTSBytes([]byte(v)) }

// parseTSBytes is parseTS on bytes. time.Time.UnmarshalText is the strict
// RFC 3339 parser: four-digit years, hours below 24, a "Z" or ±hh:mm
// offset, no leap seconds.
func parseTSBytes(b []byte) (time.Time, error) {
	var t time.Time
	if err := t.UnmarshalText(b); err != nil {
		return time.Time{}, fmt.Errorf("telemetry: not an RFC 3339 time")
	}
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("telemetry: zero time")
	}
	return t.UTC(), nil
}

// stringOrMalformed rejects a value of the wrong type, treating free text
// that looks like PHI as such.
func stringOrMalformed(s *scanner, name string) error {
	if s.kind() == vString {
		if raw, esc, ok := s.str(); ok {
			if v, ok := unquote(raw, esc); ok && DetectPHI(v) != PHINone {
				return rejectWhy(ErrPHI, name, "free text")
			}
		}
	}
	return rejectWhy(ErrMalformed, name, "wrong type")
}

// unknownMember rejects a member the schema does not define, as PHI when
// its name or string value looks like PHI.
func unknownMember(s *scanner, raw []byte, esc bool) error {
	if k, ok := unquote(raw, esc); ok && DetectPHI(k) != PHINone {
		return rejectWhy(ErrPHI, "", "member name")
	}
	if s.kind() == vString {
		if raw, esc, ok := s.str(); ok {
			if v, ok := unquote(raw, esc); ok && DetectPHI(v) != PHINone {
				return rejectWhy(ErrPHI, "", "unknown member value")
			}
		}
	}
	return rejectWhy(ErrUnknownField, "", "payload member not in schema")
}

// skipObject moves past the object at the cursor, which must be flat (no
// nested objects or arrays) — the shape scanData checks in detail.
func skipObject(s *scanner) error {
	if !s.eat('{') {
		return rejectWhy(ErrMalformed, "data", "not an object")
	}
	for n := 0; s.i < len(s.b); n++ {
		if n > 4*maxDataMembers {
			return rejectWhy(ErrOversize, "data", "too many members")
		}
		s.ws()
		switch c := s.peek(); {
		case c == '}':
			s.i++
			return nil
		case c == '"':
			if _, _, ok := s.str(); !ok {
				return rejectWhy(ErrMalformed, "data", "string")
			}
		case c == ':' || c == ',':
			s.i++
		case c == '-' || c >= '0' && c <= '9':
			if _, _, ok := s.number(); !ok {
				return rejectWhy(ErrMalformed, "data", "number")
			}
		case c == 't' || c == 'f' || c == 'n':
			if _, ok := s.literal(); !ok {
				return rejectWhy(ErrMalformed, "data", "literal")
			}
		default:
			return rejectWhy(ErrMalformed, "data", "value must be a number or boolean")
		}
	}
	return rejectWhy(ErrMalformed, "data", "unterminated object")
}

// decodeReading decodes data (already checked by scanData: a flat object
// of unique, known members holding numbers or booleans) into the reading
// type of kind and sets its measurement time. It parses the numbers
// directly, with the range rules of encoding/json: float64 members take any
// finite JSON number, integer members (unit, status, meal) only plain
// integers that fit their type.
func decodeReading(kind iomt.Kind, data []byte, ts time.Time) (iomt.Reading, error) {
	var (
		bp  iomt.BloodPressure
		hr  iomt.HeartRate
		glu iomt.Glucose
	)
	s := scanner{b: data}
	if !s.eat('{') {
		return nil, rejectWhy(ErrMalformed, "data", "not an object")
	}
	for !s.eat('}') {
		s.eat(',')
		raw, esc, ok := s.str()
		if !ok || !s.eat(':') {
			return nil, rejectWhy(ErrMalformed, "data", "member name")
		}
		key := string(raw[1 : len(raw)-1])
		if esc {
			if key, ok = unquote(raw, esc); !ok {
				return nil, rejectWhy(ErrMalformed, "data", "member name")
			}
		}
		if s.kind() != vNumber {
			return nil, rejectWhy(ErrMalformed, "data", "value does not fit its member")
		}
		num, integer, ok := s.number()
		if !ok {
			return nil, rejectWhy(ErrMalformed, "data", "number")
		}
		var err error
		switch kind {
		case iomt.KindBloodPressure:
			switch key {
			case "sys":
				bp.Systolic, err = floatValue(num)
			case "dia":
				bp.Diastolic, err = floatValue(num)
			case "map":
				bp.MeanArterial, err = floatValue(num)
			case "pulse":
				bp.Pulse, err = floatValue(num)
			case "unit":
				var u uint64
				u, err = intValue(num, integer, 0xff)
				bp.Unit = iomt.PressureUnit(u)
			case "status":
				var u uint64
				u, err = intValue(num, integer, 0xffff)
				bp.Status = iomt.MeasurementStatus(u)
			default:
				err = errUnknownMember()
			}
		case iomt.KindHeartRate:
			switch key {
			case "bpm":
				hr.BPM, err = floatValue(num)
			default:
				err = errUnknownMember()
			}
		case iomt.KindGlucose:
			switch key {
			case "conc":
				glu.Concentration, err = floatValue(num)
			case "unit":
				var u uint64
				u, err = intValue(num, integer, 0xff)
				glu.Unit = iomt.GlucoseUnit(u)
			case "meal":
				var u uint64
				u, err = intValue(num, integer, 0xff)
				glu.Meal = iomt.MealContext(u)
			default:
				err = errUnknownMember()
			}
		default:
			return nil, rejectWhy(ErrMalformed, "kind", "unsupported reading type")
		}
		if err != nil {
			return nil, err
		}
	}
	switch kind {
	case iomt.KindBloodPressure:
		bp.MeasuredAt = ts
		return bp, nil
	case iomt.KindHeartRate:
		hr.MeasuredAt = ts
		return hr, nil
	default:
		glu.MeasuredAt = ts
		return glu, nil
	}
}

func errUnknownMember() error { return rejectWhy(ErrUnknownField, "data", "member not in schema") }

func errNumberFit() error { return rejectWhy(ErrMalformed, "data", "value does not fit its member") }

func floatValue(num []byte) (float64, error) {
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return 0, errNumberFit()
	}
	return f, nil
}

func intValue(num []byte, integer bool, max uint64) (uint64, error) {
	if !integer {
		return 0, errNumberFit()
	}
	u, ok := uintValue(num)
	if !ok || u > max {
		return 0, errNumberFit()
	}
	return u, nil
}
