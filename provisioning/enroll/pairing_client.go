package enroll

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	if sessionToken == "" || len("Bearer ")+len(sessionToken) > MaxBearerToken || strings.ContainsAny(sessionToken, "\r\n") {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Err: ErrUnauthenticated}
	}
	status, b, err := c.roundTrip(ctx, PairingPath, req, sessionToken)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		sentinel, ok := codeSentinels[e.Error.Code]
		if !ok {
			return nil, &Error{Status: status, Code: CodeInternal, Err: ErrServer}
		}
		return nil, &Error{Status: status, Code: e.Error.Code, Err: sentinel}
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
