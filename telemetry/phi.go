package telemetry

import (
	"unicode"
	"unicode/utf8"
)

// PHIShape names the kind of Protected Health Information a string
// resembles. The zero value, [PHINone], means none was found.
type PHIShape string

// The shapes [DetectPHI] recognises.
const (
	PHINone  PHIShape = ""
	PHIEmail PHIShape = "email"
	PHIPhone PHIShape = "phone"
	PHISSN   PHIShape = "ssn"
	PHIDate  PHIShape = "date"
	PHIName  PHIShape = "name"
)

// maxPHIScan bounds the work DetectPHI does on one string.
const maxPHIScan = 4096

// DetectPHI reports which PHI shape s resembles: an email address, a phone
// number (7–15 digits with the usual separators), a US social security
// number (ddd-dd-dddd), a calendar date such as a birth date (2024-01-31,
// 01/31/2024, 31.01.2024), or a personal name (two to five capitalised
// words, or "Last, First"). Only the first [maxPHIScan] bytes are examined;
// longer strings are reported as [PHIName], since no legitimate telemetry
// string is that long.
//
// The guard is a heuristic for positions where free text must not appear.
// It is deliberately eager: in a telemetry envelope the only strings are
// UUIDs, a timestamp and an enum, each parsed strictly before the guard
// runs, so a false positive costs nothing but a more specific error.
func DetectPHI(s string) PHIShape {
	if len(s) > maxPHIScan {
		return PHIName
	}
	if hasEmail(s) {
		return PHIEmail
	}
	if sh := digitRunShape(s); sh != PHINone {
		return sh
	}
	if looksLikeName(s) {
		return PHIName
	}
	return PHINone
}

func isEmailLocal(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c >= 0x80
}

func isDomainChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c >= 0x80
}

// hasEmail finds local@label.label anywhere in s.
func hasEmail(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '@' || i == 0 || !isEmailLocal(s[i-1]) {
			continue
		}
		labels, n := 0, 0
		for j := i + 1; j <= len(s); j++ {
			if j < len(s) && isDomainChar(s[j]) {
				n++
				continue
			}
			if n == 0 {
				break
			}
			labels++
			n = 0
			if j == len(s) || s[j] != '.' {
				break
			}
		}
		if labels >= 2 {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isNumSep(c byte) bool {
	return c == ' ' || c == '-' || c == '(' || c == ')' || c == '+' || c == '.' || c == '/'
}

// digitRunShape examines each maximal run of digits and separators.
func digitRunShape(s string) PHIShape {
	for i := 0; i < len(s); {
		if !isDigit(s[i]) && s[i] != '+' && s[i] != '(' {
			i++
			continue
		}
		j := i
		var groups [16]int
		ng, digits := 0, 0
		inGroup := false
		for j < len(s) && (isDigit(s[j]) || isNumSep(s[j])) {
			if isDigit(s[j]) {
				digits++
				if !inGroup {
					if ng < len(groups) {
						ng++
					}
					inGroup = true
				}
				groups[ng-1]++
			} else {
				inGroup = false
			}
			j++
		}
		run := s[i:j]
		switch {
		case ng == 3 && groups[0] == 3 && groups[1] == 2 && groups[2] == 4 && sameSeps(run, "- "):
			return PHISSN
		case ng == 3 && isDate(groups[:3], run):
			return PHIDate
		case digits >= 7 && digits <= 15:
			return PHIPhone
		}
		i = j
	}
	return PHINone
}

// sameSeps reports whether every separator in run is one byte from allowed.
func sameSeps(run, allowed string) bool {
	for i := 0; i < len(run); i++ {
		c := run[i]
		if isDigit(c) {
			continue
		}
		ok := false
		for k := 0; k < len(allowed); k++ {
			ok = ok || c == allowed[k]
		}
		if !ok {
			return false
		}
	}
	return true
}

// isDate reports y-m-d or d-m-y / m-d-y groupings separated by '-', '/' or '.'.
func isDate(g []int, run string) bool {
	if !sameSeps(run, "-/.") {
		return false
	}
	if g[0] == 4 && g[1] <= 2 && g[2] <= 2 {
		return true
	}
	return g[0] <= 2 && g[1] <= 2 && (g[2] == 2 || g[2] == 4)
}

// looksLikeName reports two to five capitalised words of letters (with
// apostrophes, hyphens and periods inside), or "Last, First".
func looksLikeName(s string) bool {
	words, inWord := 0, false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsLetter(r):
			if !inWord {
				if !unicode.IsUpper(r) && !unicode.IsTitle(r) {
					return false
				}
				words++
				inWord = true
			}
		case inWord && (r == '\'' || r == '-' || r == '.' || r == '’'):
		case r == ' ' || r == ',':
			inWord = false
		default:
			return false
		}
		i += size
	}
	return words >= 2 && words <= 5
}
