package enroll

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/openiomt/sdk/provisioning"
)

// MaxResponseBytes bounds an enrolment server's answer.
const MaxResponseBytes = 64 << 10

// Client is the device side of enrolment.
type Client struct {
	// BaseURL is the enrolment service, e.g. https://enroll.example.com;
	// it must be https.
	BaseURL string
	// HTTPClient sends the requests. It must trust the service's
	// certificate, and for Reenroll present the device certificate (see
	// provisioning.DeviceTLSConfig). Nil means a client with a 30-second
	// timeout and the system roots, never http.DefaultClient.
	HTTPClient *http.Client
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{Timeout: defaultClientTimeout}
}

// Enroll sends token and csrDER and returns the issued certificate chain.
// Refusals are *Error values wrapping the matching provisioning sentinel.
func (c *Client) Enroll(ctx context.Context, token string, csrDER []byte) ([]*x509.Certificate, error) {
	return c.post(ctx, EnrollPath, enrollRequest{Token: token, CSR: base64.StdEncoding.EncodeToString(csrDER)})
}

// Reenroll sends csrDER over a connection authenticated by the current
// device certificate and returns the new chain.
func (c *Client) Reenroll(ctx context.Context, csrDER []byte) ([]*x509.Certificate, error) {
	return c.post(ctx, ReenrollPath, enrollRequest{CSR: base64.StdEncoding.EncodeToString(csrDER)})
}

func (c *Client) post(ctx context.Context, path string, req enrollRequest) ([]*x509.Certificate, error) {
	status, b, err := c.roundTrip(ctx, path, req, "")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		sentinel, ok := codeSentinels[e.Error]
		if !ok {
			return nil, &Error{Status: status, Code: CodeInternal, Err: ErrServer}
		}
		return nil, &Error{Status: status, Code: e.Error, Err: sentinel}
	}
	var out enrollResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("enroll: response: %w", provisioning.ErrMalformed)
	}
	chain, err := provisioning.ParseCertificatesPEM([]byte(out.Chain))
	if err != nil {
		return nil, fmt.Errorf("enroll: response chain: %w", err)
	}
	return chain, nil
}

// roundTrip POSTs req as JSON to c.BaseURL + path (with bearer as the
// Authorization credential when set) and returns the status and the body,
// read up to MaxResponseBytes.
func (c *Client) roundTrip(ctx context.Context, path string, req any, bearer string) (int, []byte, error) {
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return 0, nil, errors.New("enroll: BaseURL must be an https URL")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return 0, nil, fmt.Errorf("enroll: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("enroll: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.httpClient().Do(hr)
	if err != nil {
		return 0, nil, fmt.Errorf("enroll: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return 0, nil, fmt.Errorf("enroll: reading response: %w", err)
	}
	if len(b) > MaxResponseBytes {
		return 0, nil, fmt.Errorf("enroll: response: %w", provisioning.ErrTooLarge)
	}
	return resp.StatusCode, b, nil
}

// EnrollIdentity enrols id with token: it creates a CSR for id.Device with
// id.Key, sends it, checks that the returned leaf certifies exactly that
// device and key, and sets id.Chain. The caller saves id afterwards.
func EnrollIdentity(ctx context.Context, c *Client, id *provisioning.Identity, token string) error {
	csr, err := provisioning.NewCSR(id.Device, id.Key, nil)
	if err != nil {
		return err
	}
	chain, err := c.Enroll(ctx, token, csr)
	if err != nil {
		return err
	}
	if err := checkLeaf(chain, id, id.Key); err != nil {
		return err
	}
	id.Chain = chain
	return nil
}

// RotateIdentity re-enrols id with newKey (a fresh key; pass id.Key to
// renew the certificate only). c.HTTPClient must present id's current
// certificate. On success id.Key and id.Chain are replaced; the caller
// saves id, after which the old certificate is no longer in good standing.
func RotateIdentity(ctx context.Context, c *Client, id *provisioning.Identity, newKey crypto.Signer) error {
	csr, err := provisioning.NewCSR(id.Device, newKey, nil)
	if err != nil {
		return err
	}
	chain, err := c.Reenroll(ctx, csr)
	if err != nil {
		return err
	}
	if err := checkLeaf(chain, id, newKey); err != nil {
		return err
	}
	id.Key, id.Chain = newKey, chain
	return nil
}

func checkLeaf(chain []*x509.Certificate, id *provisioning.Identity, key crypto.Signer) error {
	dev, err := provisioning.DeviceIDFromCertificate(chain[0])
	if err != nil {
		return err
	}
	if dev != id.Device {
		return fmt.Errorf("enroll: issued certificate: %w", provisioning.ErrDeviceMismatch)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(chain[0].PublicKey) {
		return fmt.Errorf("enroll: issued certificate: key: %w", provisioning.ErrDeviceMismatch)
	}
	return nil
}
