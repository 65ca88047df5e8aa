package provisioning_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"hash/crc32"
	"testing"

	"github.com/openiomt/sdk/provisioning"
)

// BenchmarkPairingOpen is the device's cost of opening a pairing payload:
// JWE decryption (ECDH-ES+A256KW, A256GCM), JWS verification and parsing.
func BenchmarkPairingOpen(b *testing.B) {
	f := fixedPairingFixture(b)
	nonce := bytes.Repeat([]byte{7}, 16)
	sealed, err := f.sealer.Seal(f.payload(b, nonce), &f.pairKey.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.opener.Open(sealed, nonce); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPairingOpenBaseline is the floor for BenchmarkPairingOpen: the
// public-key operations it cannot avoid (one P-256 ECDH, one P-256 ECDSA
// verification) with the standard library alone.
func BenchmarkPairingOpenBaseline(b *testing.B) {
	priv, _ := ecdh.P256().GenerateKey(rand.Reader)
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("payload"))
	sig, _ := ecdsa.SignASN1(rand.Reader, sk, digest[:])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := priv.ECDH(peer.PublicKey()); err != nil {
			b.Fatal(err)
		}
		if !ecdsa.VerifyASN1(&sk.PublicKey, digest[:], sig) {
			b.Fatal("verify")
		}
	}
}

// BenchmarkReassemble rebuilds an 8 KiB message from 185-byte BLE frames.
func BenchmarkReassemble(b *testing.B) {
	msg := make([]byte, 8<<10)
	rand.Read(msg)
	frames, _ := provisioning.SplitFrames(msg, 185)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var r provisioning.Reassembler
		for _, f := range frames {
			if _, err := r.Add(f); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReassembleBaseline is the floor for BenchmarkReassemble: copying
// the frames' data into one buffer and the CRC-32C over it.
func BenchmarkReassembleBaseline(b *testing.B) {
	msg := make([]byte, 8<<10)
	rand.Read(msg)
	frames, _ := provisioning.SplitFrames(msg, 185)
	tab := crc32.MakeTable(crc32.Castagnoli)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var buf []byte
		for i, f := range frames {
			if i == 0 {
				buf = append(buf, f[11:]...)
			} else {
				buf = append(buf, f[3:]...)
			}
		}
		_ = crc32.Checksum(buf, tab)
	}
}
