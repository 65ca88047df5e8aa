package phisilo_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/openiomt/sdk/phisilo"
)

func FuzzParsePatientID(f *testing.F) {
	f.Add("3f0c8e9a-4b1d-4c2e-9f3a-0123456789ab")
	f.Add("3F0C8E9A-4B1D-4C2E-9F3A-0123456789AB")
	f.Add("{3f0c8e9a-4b1d-4c2e-9f3a-0123456789ab}")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := phisilo.ParsePatientID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("accepted a non-canonical form")
		}
		again, err := phisilo.ParsePatientID(id.String())
		if err != nil || again != id {
			t.Fatalf("round trip failed")
		}
	})
}

func FuzzDecodeAuditEntry(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","tenant":"t","user":"u","role":"patient","action":"read","outcome":"success","purpose":"PATRQT"}`))
	f.Add([]byte(`{"unknown":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := phisilo.DecodeAuditEntry(phisilo.AuditEntry{Seq: 1, Body: body, Hash: make([]byte, 32)})
		if err != nil {
			return
		}
		// Whatever decodes exports in every format without error.
		for _, f := range []phisilo.ExportFormat{phisilo.ExportJSONL, phisilo.ExportFHIR, phisilo.ExportCEF} {
			var buf bytes.Buffer
			if err := phisilo.ExportAudit(&buf, f, []phisilo.AuditRecord{r}); err != nil {
				t.Fatalf("export %s: %v", f, err)
			}
			if f == phisilo.ExportCEF && bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
				t.Fatalf("CEF line injection")
			}
		}
	})
}

func FuzzCheckPassword(f *testing.F) {
	f.Add("pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "password")
	f.Add("pbkdf2-sha256$999999999$x$y", "p")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		if parts := strings.Split(hash, "$"); len(parts) > 1 {
			if n, err := strconv.Atoi(parts[1]); err == nil && n > 20000 {
				return // valid but slow by design; not what this target explores
			}
		}
		phisilo.CheckPassword(hash, pw) // must not panic
	})
}
