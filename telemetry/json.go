package telemetry

import (
	"encoding/json"
	"unicode/utf8"
)

// scanner is a strict tokenizer for the small JSON subset the envelope uses:
// objects whose members are strings, numbers, booleans, null and (one level
// down, for "data") objects. Arrays and deeper nesting are rejected by the
// callers. It never allocates except to unescape a string with escapes.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) eof() bool {
	s.ws()
	return s.i == len(s.b)
}

// str reads a JSON string at the cursor and returns its raw bytes (with
// quotes) and whether it contains escapes. It validates escapes, rejects
// control characters and invalid UTF-8.
func (s *scanner) str() (raw []byte, escaped, ok bool) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, false
	}
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], escaped, true
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				return nil, false, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+5 > len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, false
					}
				}
				s.i += 5
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size <= 1 {
				return nil, false, false
			}
			s.i += size
		}
	}
	return nil, false, false
}

// unquote returns the string value of raw as returned by str.
func unquote(raw []byte, escaped bool) (string, bool) {
	if !escaped {
		return string(raw[1 : len(raw)-1]), true
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	// Escapes can spell lone surrogates, which encoding/json silently
	// replaces; refuse them rather than accept an altered string.
	if !utf8.ValidString(v) {
		return "", false
	}
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError {
			return "", false
		}
		i += size
	}
	return v, true
}

// keyIs compares a raw member name with want without allocating.
func keyIs(raw []byte, escaped bool, want string) bool {
	if escaped {
		k, ok := unquote(raw, true)
		return ok && k == want
	}
	return string(raw[1:len(raw)-1]) == want
}

// number reads a number of the JSON grammar and reports whether it is a
// plain non-negative integer (no sign, fraction or exponent).
func (s *scanner) number() (raw []byte, integer, ok bool) {
	s.ws()
	start := s.i
	integer = true
	if s.peek() == '-' {
		integer = false
		s.i++
	}
	switch {
	case s.peek() == '0':
		s.i++
	case s.peek() >= '1' && s.peek() <= '9':
		for s.peek() >= '0' && s.peek() <= '9' {
			s.i++
		}
	default:
		return nil, false, false
	}
	if s.peek() == '.' {
		integer = false
		s.i++
		if !(s.peek() >= '0' && s.peek() <= '9') {
			return nil, false, false
		}
		for s.peek() >= '0' && s.peek() <= '9' {
			s.i++
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		integer = false
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !(s.peek() >= '0' && s.peek() <= '9') {
			return nil, false, false
		}
		for s.peek() >= '0' && s.peek() <= '9' {
			s.i++
		}
	}
	return s.b[start:s.i], integer, true
}

// literal reads true, false or null.
func (s *scanner) literal() (string, bool) {
	s.ws()
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return lit, true
		}
	}
	return "", false
}

// valueKind classifies the value at the cursor without consuming it.
type valueKind uint8

const (
	vInvalid valueKind = iota
	vString
	vNumber
	vBool
	vNull
	vObject
	vArray
)

func (s *scanner) kind() valueKind {
	s.ws()
	switch c := s.peek(); {
	case c == '"':
		return vString
	case c == '-' || c >= '0' && c <= '9':
		return vNumber
	case c == 't' || c == 'f':
		return vBool
	case c == 'n':
		return vNull
	case c == '{':
		return vObject
	case c == '[':
		return vArray
	}
	return vInvalid
}

// uintValue parses a plain integer token (as accepted by number with
// integer true) as uint64, reporting overflow as !ok.
func uintValue(raw []byte) (uint64, bool) {
	if len(raw) == 0 || len(raw) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range raw {
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
