package provisioning_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"testing"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

// fixedPairingFixture uses fixed keys, device and clock, so that genuine
// payloads in testdata/fuzz/FuzzPairingOpen keep opening across runs.
func fixedPairingFixture(t testing.TB) *pairingFixture {
	t.Helper()
	key := func(b byte) *ecdsa.PrivateKey {
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{b}, 32))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	f := &pairingFixture{c: &clock{t0}, prov: key(0x11), pairKey: key(0x22),
		dev: iomt.MustParseDeviceID("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")}
	var err error
	if f.sealer, err = provisioning.NewPairingSealer(provisioning.PairingSealerConfig{Key: f.prov, Now: f.c.Now}); err != nil {
		t.Fatal(err)
	}
	if f.opener, err = provisioning.NewPairingOpener(provisioning.PairingOpenerConfig{
		PairingKey: f.pairKey, Trusted: &f.prov.PublicKey, Device: f.dev, Now: f.c.Now}); err != nil {
		t.Fatal(err)
	}
	return f
}

// FuzzReassembler feeds arbitrary frame streams (length-prefixed in the
// fuzz input) to a Reassembler, checks it never panics, never returns more
// than MaxMessageSize, and that every error is typed; and checks the
// SplitFrames round trip for the input itself.
func FuzzReassembler(f *testing.F) {
	msg := []byte("a pairing payload that spans several twenty byte frames")
	frames, _ := provisioning.SplitFrames(msg, provisioning.MinMTU)
	var seed []byte
	for _, fr := range frames {
		seed = append(seed, byte(len(fr)))
		seed = append(seed, fr...)
	}
	f.Add(seed, uint16(20))
	f.Add([]byte{3, 1, 0, 0}, uint16(512))
	f.Fuzz(func(t *testing.T, data []byte, mtu uint16) {
		r := provisioning.Reassembler{MaxMessageSize: 1024}
		for rest := data; len(rest) > 0; {
			n := int(rest[0])
			rest = rest[1:]
			n = min(n, len(rest))
			out, err := r.Add(rest[:n])
			rest = rest[n:]
			if err != nil {
				var pe *provisioning.Error
				if !errors.As(err, &pe) {
					t.Fatalf("untyped error %v", err)
				}
				continue
			}
			if len(out) > 1024 {
				t.Fatalf("message of %d bytes above the limit", len(out))
			}
		}
		m := int(mtu)%(provisioning.MaxMTU-provisioning.MinMTU+1) + provisioning.MinMTU
		if len(data) == 0 {
			return
		}
		fr, err := provisioning.SplitFrames(data, m)
		if err != nil {
			t.Fatal(err)
		}
		var r2 provisioning.Reassembler
		for i, x := range fr {
			out, err := r2.Add(x)
			if err != nil {
				t.Fatalf("own frame %d rejected: %v", i, err)
			}
			if out != nil && (i != len(fr)-1 || !bytes.Equal(out, data)) {
				t.Fatal("round trip mismatch")
			}
		}
	})
}

// FuzzPairingOpen feeds arbitrary bytes to the device's pairing decoder. It
// must never panic and must fail with a typed error on anything but a
// genuine payload; the seed is a genuine payload so the fuzzer mutates real
// JWE structure.
func FuzzPairingOpen(f *testing.F) {
	fx := fixedPairingFixture(f)
	nonce := bytes.Repeat([]byte{7}, 16)
	sealed, err := fx.sealer.Seal(fx.payload(f, nonce), &fx.pairKey.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add([]byte("a.b.c.d.e"))
	f.Add([]byte("eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9...."))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := fx.opener.Open(data, nonce)
		if err != nil {
			var pe *provisioning.Error
			if !errors.As(err, &pe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if p.Device != fx.dev || !bytes.Equal(p.Nonce, nonce) {
			t.Fatal("accepted a payload for another device or nonce")
		}
	})
}
