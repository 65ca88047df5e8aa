package enroll_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openiomt/sdk/provisioning/enroll"
)

// FuzzPairingRequest feeds arbitrary bodies to the pairing handler of an
// authenticated patient: it never panics, always answers JSON with
// Cache-Control: no-store, and an error answer is one of the fixed
// messages, so nothing from the body is ever echoed.
func FuzzPairingRequest(f *testing.F) {
	f.Add([]byte(`{"device_id":"6f1c2b3a-9d4e-4f5a-8b6c-7d8e9fa0b1c2","nonce":"AAAAAAAAAAAAAAAAAAAAAA==","ssid":"x","passphrase":"yyyyyyyy","security":"wpa2-psk"}`))
	f.Add([]byte(`{"device_id":"","nonce":null}`))
	f.Add([]byte(`{"device_id":"6f1c2b3a-9d4e-4f5a-8b6c-7d8e9fa0b1c2","nonce":"AAAA","extra":1}`))
	f.Add([]byte(`[{"a":"\u0000"}]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		fx := newPairingFixture(t, nil)
		dev, _ := fx.monitor(t)
		bearer, _ := fx.patient(t)
		// Half the inputs address the registered device, so the fuzzer
		// reaches the registry, token and seal stages too.
		if len(body) > 0 && body[0]&1 == 1 {
			body = []byte(strings.ReplaceAll(string(body), "6f1c2b3a-9d4e-4f5a-8b6c-7d8e9fa0b1c2", dev.String()))
		}
		w := fx.post(t, bearer, body)
		if w.Code == http.StatusOK {
			return
		}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatalf("answer %d not JSON: %q", w.Code, w.Body.String())
		}
		msg, _, _ := strings.Cut(e.Error.Message, ": ")
		switch e.Error.Code {
		case enroll.CodeBadRequest, enroll.CodeTooLarge, enroll.CodeUnknownDevice, enroll.CodeNonceReplayed:
		default:
			t.Fatalf("unexpected code %q (%d)", e.Error.Code, w.Code)
		}
		if strings.ContainsAny(msg, `"{}`) || len(e.Error.Message) > 80 {
			t.Fatalf("message looks echoed: %q", e.Error.Message)
		}
	})
}
