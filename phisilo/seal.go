package phisilo

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"io"
)

const (
	dataKeySize = 32 // AES-256
	sealTag     = 0x01
	nonceSize   = 12
)

// recordAD binds a record ciphertext to its tenant, patient and schema.
func recordAD(tenant string, p PatientID, schema uint16) []byte {
	ad := make([]byte, 0, 40+len(tenant))
	ad = append(ad, "openiomt/phisilo record v1\x00"...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(tenant)))
	ad = append(ad, tenant...)
	ad = append(ad, p[:]...)
	ad = binary.BigEndian.AppendUint16(ad, schema)
	return ad
}

// keyAD binds a wrapped data key to its tenant and patient. tink's KMS
// envelope AEAD wraps with empty associated data, so the binding is done here.
func keyAD(tenant string, p PatientID) []byte {
	ad := make([]byte, 0, 40+len(tenant))
	ad = append(ad, "openiomt/phisilo data key v1\x00"...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(tenant)))
	ad = append(ad, tenant...)
	return append(ad, p[:]...)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != dataKeySize {
		return nil, fmt.Errorf("phisilo: data key length: %w", ErrDecrypt)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("phisilo: data key: %w", ErrDecrypt)
	}
	return cipher.NewGCM(b)
}

// seal encrypts plaintext: tag | nonce | AES-256-GCM(ciphertext+tag).
func seal(rand io.Reader, key, plaintext, ad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+g.Overhead())
	out[0] = sealTag
	if _, err := io.ReadFull(rand, out[1:]); err != nil {
		return nil, fmt.Errorf("phisilo: nonce: %w", err)
	}
	return g.Seal(out, out[1:], plaintext, ad), nil
}

func open(key, ct, ad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(ct) < 1+nonceSize+g.Overhead() || ct[0] != sealTag {
		return nil, fmt.Errorf("phisilo: ciphertext format: %w", ErrDecrypt)
	}
	pt, err := g.Open(nil, ct[1:1+nonceSize], ct[1+nonceSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("phisilo: record: %w", ErrDecrypt)
	}
	return pt, nil
}
