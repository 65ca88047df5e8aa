package ota

import (
	"encoding/asn1"
	"fmt"
	"math/big"
)

// derToRS converts an ASN.1 ECDSA signature (from an HSM crypto.Signer) to
// the fixed 64-byte R||S form JWS uses.
func derToRS(der []byte) ([]byte, error) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil || len(rest) != 0 || v.R == nil || v.S == nil ||
		v.R.Sign() <= 0 || v.S.Sign() <= 0 || v.R.BitLen() > 256 || v.S.BitLen() > 256 {
		return nil, fmt.Errorf("%w: signer returned a malformed ECDSA signature", ErrKey)
	}
	sig := make([]byte, 64)
	v.R.FillBytes(sig[:32])
	v.S.FillBytes(sig[32:])
	return sig, nil
}
