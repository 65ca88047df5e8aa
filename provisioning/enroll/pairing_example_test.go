package enroll_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/enroll"
	"github.com/openiomt/sdk/provisioning/registry/memory"
)

// The cloud serves pairing requests of logged-in patients; here the
// session check is a fixed bearer token standing in for a real session
// store, and the device opens the sealed payload it receives over BLE.
func ExampleNewPairingHandler() {
	ctx := context.Background()
	provKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tokens, _ := provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: provKey})
	sealer, _ := provisioning.NewPairingSealer(provisioning.PairingSealerConfig{Key: provKey})
	reg := memory.New(memory.Config{})

	// Factory: the monitor's pairing key is registered.
	dev, _ := iomt.NewDeviceID(nil)
	pairingKey, _ := provisioning.GeneratePairingKey(nil)
	_ = reg.Register(ctx, dev, &pairingKey.PublicKey)

	patient, _ := iomt.NewPatientID(nil)
	h, err := enroll.NewPairingHandler(enroll.PairingHandlerConfig{
		Registry: reg, Tokens: tokens, Sealer: sealer,
		Authenticate: func(r *http.Request) (iomt.PatientID, error) {
			if tok, ok := enroll.BearerToken(r); ok && tok == "patient-session" {
				return patient, nil
			}
			return iomt.PatientID{}, enroll.ErrUnauthenticated
		},
		BrokerURL: "mqtts://broker.example:8883", EnrollmentURL: "https://api.example",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+enroll.PairingPath, h)

	// Device: a pairing session offers a one-time nonce over BLE.
	opener, _ := provisioning.NewPairingOpener(provisioning.PairingOpenerConfig{PairingKey: pairingKey,
		Trusted: &provKey.PublicKey, Device: dev})
	sess, _ := opener.NewSession(nil)

	// Phone: sends the nonce and the Wi-Fi settings with the patient's session.
	body, _ := json.Marshal(map[string]any{"device_id": dev, "nonce": sess.Nonce(),
		"ssid": "Home", "passphrase": "correct-horse", "security": "wpa2-psk"})
	req := httptest.NewRequest("POST", enroll.PairingPath, strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer patient-session")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	var out struct{ Sealed []byte }
	_ = json.Unmarshal(w.Body.Bytes(), &out)

	// Device: opens what the phone relayed.
	p, err := sess.Open(out.Sealed)
	fmt.Println(w.Code, w.Header().Get("Cache-Control"), err == nil, p.Patient == patient, p.SSID)
	// Output: 200 no-store true true Home
}
