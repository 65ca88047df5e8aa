package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/openiomt/sdk/provisioning"
)

// RequestPairing is the phone app's side of [PairingHandler]: it sends req
// with the patient's session token as bearer credential to
// c.BaseURL + [PairingPath] and returns the sealed pairing payload to
// relay to the device (see provisioning.SplitFrames). Refusals are *Error
// values wrapping the matching sentinel: [ErrUnauthenticated],
// [ErrDeviceBound], provisioning.ErrReplay for a nonce already answered,
// provisioning.ErrUnknownDevice, provisioning.ErrRevoked, and so on.
func (c *Client) RequestPairing(ctx context.Context, sessionToken string, req PairingRequest) ([]byte, error) {
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("enroll: BaseURL must be an https URL")
	}
	if sessionToken == "" || len("Bearer ")+len(sessionToken) > MaxBearerToken || strings.ContainsAny(sessionToken, "\r\n") {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Err: ErrUnauthenticated}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+PairingPath, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+sessionToken)
	resp, err := c.httpClient().Do(hr)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("enroll: reading response: %w", err)
	}
	if len(b) > MaxResponseBytes {
		return nil, fmt.Errorf("enroll: response: %w", provisioning.ErrTooLarge)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		sentinel, ok := codeSentinels[e.Error.Code]
		if !ok {
			return nil, &Error{Status: resp.StatusCode, Code: CodeInternal, Err: ErrServer}
		}
		return nil, &Error{Status: resp.StatusCode, Code: e.Error.Code, Err: sentinel}
	}
	var out pairingResponse
	if err := json.Unmarshal(b, &out); err != nil || len(out.Sealed) == 0 {
		return nil, fmt.Errorf("enroll: response: %w", provisioning.ErrMalformed)
	}
	if len(out.Sealed) > provisioning.MaxPairingSize {
		return nil, fmt.Errorf("enroll: sealed payload: %w", provisioning.ErrTooLarge)
	}
	return out.Sealed, nil
}
