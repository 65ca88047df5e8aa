// Package phone is the simulated companion app: it registers the patient
// (the only place PHI is sent, over TLS to the registration API), logs in,
// shares readings with the patient's doctor, and pairs a monitor over
// Bluetooth by handing it the cloud-sealed pairing payload in BLE frames.
package phone

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/story"
	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/provisioning"
	"github.com/openiomt/sdk/provisioning/enroll"
)

// BLEMTU is the ATT MTU the simulated phone negotiates with the monitor.
const BLEMTU = 185

// maxResponse bounds an API response body.
const maxResponse = 1 << 20

// Device is the monitor side of a Bluetooth pairing.
type Device interface {
	Device() iomt.DeviceID
	StartPairing() ([]byte, error)
	ReceiveFrame(ctx context.Context, frame []byte) (bool, error)
}

// App is one phone with the companion app.
type App struct {
	api   string
	hc    *http.Client
	story *story.Printer
	name  string
	token string
	// Patient is set after Register or Login.
	Patient iomt.PatientID
}

// New returns an app talking to the API at baseURL (https), trusting roots.
func New(baseURL string, roots *x509.CertPool, name string, st *story.Printer) *App {
	return &App{api: baseURL, name: name, story: st, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
	}}}
}

// APIError is an error answer of the API. It carries the status and the
// API's fixed message, never request data.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("phone: API answered %d: %s", e.Status, e.Message)
}

func (a *App) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.api+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return err
	}
	if len(b) > maxResponse {
		return errors.New("phone: API response too large")
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return &APIError{Status: resp.StatusCode, Message: e.Error.Message}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Register sends the patient's registration (PHI) to the registration API
// with the patient's chosen login, and keeps the returned patient UUID.
func (a *App) Register(ctx context.Context, rec phisilo.Record, user, password string) (iomt.PatientID, error) {
	var out struct {
		PatientID iomt.PatientID `json:"patient_id"`
	}
	err := a.call(ctx, "POST", "/v1/patients", map[string]any{"record": rec, "user_id": user, "password": password}, &out)
	if err != nil {
		return iomt.PatientID{}, err
	}
	a.Patient = out.PatientID
	a.story.Tell(a.name, "registered the patient over TLS → patient %s (the only time PHI leaves the phone)", story.Short(out.PatientID))
	return out.PatientID, nil
}

// Login opens the patient's session.
func (a *App) Login(ctx context.Context, user, password string) error {
	var out struct {
		Token   string         `json:"token"`
		Patient iomt.PatientID `json:"patient"`
	}
	if err := a.call(ctx, "POST", "/v1/sessions", map[string]any{"user_id": user, "password": password, "purpose": phisilo.PurposePatientRequest}, &out); err != nil {
		return err
	}
	a.token, a.Patient = out.Token, out.Patient
	return nil
}

// Share lets grantee (a clinician or caregiver user) see the patient's
// readings and record sections for d.
func (a *App) Share(ctx context.Context, grantee string, role phisilo.Role, sections []phisilo.Section, d time.Duration) error {
	err := a.call(ctx, "POST", "/v1/patients/"+a.Patient.String()+"/grants", map[string]any{
		"grantee": grantee, "grantee_role": role, "sections": sections, "duration_seconds": int64(d / time.Second),
	}, nil)
	if err == nil {
		a.story.Tell(a.name, "the patient shared readings with %s (%s) for %d days", grantee, role, int(d.Hours()/24))
	}
	return err
}

// Pair pairs dev with the logged-in patient: the monitor's nonce goes to the
// cloud (enroll.Client.RequestPairing), the sealed payload comes back and travels to the monitor in BLE
// frames of at most BLEMTU bytes.
func (a *App) Pair(ctx context.Context, dev Device, ssid, passphrase string) error {
	nonce, err := dev.StartPairing()
	if err != nil {
		return err
	}
	c := &enroll.Client{BaseURL: a.api, HTTPClient: a.hc}
	sealed, err := c.RequestPairing(ctx, a.token, enroll.PairingRequest{Device: dev.Device(), Nonce: nonce,
		SSID: ssid, Passphrase: passphrase, Security: provisioning.WiFiWPA2})
	if err != nil {
		return err
	}
	frames, err := provisioning.SplitFrames(sealed, BLEMTU)
	if err != nil {
		return err
	}
	a.story.Tell(a.name, "handing the sealed pairing payload to monitor %s over Bluetooth (%d frames of ≤%d bytes)", story.Short(dev.Device()), len(frames), BLEMTU)
	for i, f := range frames {
		done, err := dev.ReceiveFrame(ctx, f)
		if err != nil {
			return err
		}
		if done != (i == len(frames)-1) {
			return errors.New("phone: monitor completed the payload early or not at all")
		}
	}
	return nil
}
