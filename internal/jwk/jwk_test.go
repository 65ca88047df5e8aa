package jwk

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the seed corpus in testdata/fuzz")

// testKeys returns fixed P-256 and Ed25519 keys derived from label.
func testKeys(t testing.TB, label string) []crypto.Signer {
	t.Helper()
	sum := sha256.Sum256([]byte(label))
	ek, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return []crypto.Signer{ek, ed25519.NewKeyFromSeed(sum[:])}
}

func mustEncode(t testing.TB, pub crypto.PublicKey, priv crypto.Signer, kid, use string) []byte {
	t.Helper()
	b, err := Encode(pub, priv, kid, use)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type pubEqualer interface{ Equal(crypto.PublicKey) bool }

func TestRoundTrip(t *testing.T) {
	for _, k := range testKeys(t, "round trip") {
		for _, priv := range []crypto.Signer{nil, k} {
			b := mustEncode(t, k.Public(), priv, "kid-1", "sig")
			j, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			pub, alg, err := j.Public()
			if err != nil || !pub.(pubEqualer).Equal(k.Public()) {
				t.Fatalf("%s: public: %v", b, err)
			}
			if j.Kid != "kid-1" || j.Use != "sig" || j.Alg != alg || j.HasD != (priv != nil) {
				t.Fatalf("members: %+v", j)
			}
			s, err := j.Private()
			if priv == nil {
				if !errors.Is(err, ErrNotPrivate) {
					t.Fatalf("public JWK gave a private key: %v", err)
				}
				continue
			}
			if err != nil || !s.Public().(pubEqualer).Equal(k.Public()) {
				t.Fatalf("private: %v", err)
			}
			if b2 := mustEncode(t, s.Public(), s, "kid-1", "sig"); !bytes.Equal(b, b2) {
				t.Fatalf("not canonical:\n%s\n%s", b, b2)
			}
		}
	}
}

// TestEncodeOrder pins the wire format: members in lexical order, no
// whitespace, optional kid and use left out when empty.
func TestEncodeOrder(t *testing.T) {
	ks := testKeys(t, "order")
	b := string(mustEncode(t, ks[1].Public(), ks[1], "", ""))
	if !strings.HasPrefix(b, `{"alg":"EdDSA","crv":"Ed25519","d":"`) || !strings.Contains(b, `","kty":"OKP","x":"`) || strings.Contains(b, "kid") || strings.Contains(b, "use") {
		t.Fatal(b)
	}
	b = string(mustEncode(t, ks[0].Public(), nil, "k", "sig"))
	if !strings.HasPrefix(b, `{"alg":"ES256","crv":"P-256","kid":"k","kty":"EC","use":"sig","x":"`) || !strings.Contains(b, `","y":"`) {
		t.Fatal(b)
	}
}

// TestKeyConfusionRejected: each malformed or ambiguous JWK fails with an
// *Error of the expected kind, from Public or, for private keys, Private.
func TestKeyConfusionRejected(t *testing.T) {
	ks := testKeys(t, "reject")
	other := testKeys(t, "other")
	ec := ks[0].(*ecdsa.PrivateKey)
	raw, _ := ec.PublicKey.Bytes()
	x, y := b64.EncodeToString(raw[1:33]), b64.EncodeToString(raw[33:])
	od, _ := other[0].(*ecdsa.PrivateKey).Bytes()
	ex := b64.EncodeToString(ks[1].Public().(ed25519.PublicKey))
	oseed := b64.EncodeToString(other[1].(ed25519.PrivateKey).Seed())
	ecj := func(extra string) string {
		return `{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `"` + extra + `}`
	}
	for _, c := range []struct {
		name, jwk string
		kind      error
	}{
		{"not an object", `[1]`, ErrSyntax},
		{"empty", ``, ErrSyntax},
		{"bad json", `{"kty":}`, ErrSyntax},
		{"duplicate member", ecj(`,"x":"` + x + `"`), ErrSyntax},
		{"duplicate d", ecj(`,"d":"AA","d":"AA"`), ErrSyntax},
		{"number member", ecj(`,"kid":1`), ErrSyntax},
		{"trailing data", ecj(``) + ` {}`, ErrSyntax},
		{"foreign secret k", ecj(`,"k":"AAAA"`), ErrUnsupported},
		{"RSA private p", `{"kty":"RSA","p":"AA"}`, ErrUnsupported},
		{"P-384", `{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}`, ErrUnsupported},
		{"case-changed kty", `{"KTY":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `"}`, ErrUnsupported},
		{"X25519", `{"kty":"OKP","crv":"X25519","x":"` + ex + `"}`, ErrUnsupported},
		{"oct", `{"kty":"oct"}`, ErrUnsupported},
		{"alg of other type", ecj(`,"alg":"EdDSA"`), ErrUnsupported},
		{"alg none", ecj(`,"alg":"none"`), ErrUnsupported},
		{"use enc", ecj(`,"use":"enc"`), ErrUnsupported},
		{"OKP with y", `{"kty":"OKP","crv":"Ed25519","x":"` + ex + `","y":"` + y + `"}`, ErrUnsupported},
		{"short x", `{"kty":"EC","crv":"P-256","x":"AA","y":"` + y + `"}`, ErrEncoding},
		{"padded x", `{"kty":"EC","crv":"P-256","x":"` + x + `=","y":"` + y + `"}`, ErrEncoding},
		{"std base64", `{"kty":"OKP","crv":"Ed25519","x":"+` + ex[1:] + `"}`, ErrEncoding},
		{"long Ed25519 x", `{"kty":"OKP","crv":"Ed25519","x":"` + ex + `AA"}`, ErrEncoding},
		{"not on curve", `{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + x + `"}`, ErrPoint},
		{"short d", ecj(`,"d":"AA"`), ErrEncoding},
		{"zero scalar", ecj(`,"d":"` + b64.EncodeToString(make([]byte, 32)) + `"`), ErrPoint},
		{"EC private mismatch", ecj(`,"d":"` + b64.EncodeToString(od) + `"`), ErrMismatch},
		{"Ed25519 private mismatch", `{"kty":"OKP","crv":"Ed25519","x":"` + ex + `","d":"` + oseed + `"}`, ErrMismatch},
		{"oversize", `{"kid":"` + strings.Repeat("a", MaxSize) + `"}`, ErrOversize},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := rejectErr([]byte(c.jwk))
			var e *Error
			if !errors.Is(err, c.kind) || !errors.As(err, &e) || e.Detail == "" {
				t.Fatalf("%s: got %v, want %v", c.jwk, err, c.kind)
			}
			if strings.Contains(err.Error(), x) || strings.Contains(err.Error(), ex) {
				t.Fatal("error echoes key material")
			}
		})
	}
}

// rejectErr returns the first error of Decode, Public, Private.
func rejectErr(b []byte) error {
	j, err := Decode(b)
	if err != nil {
		return err
	}
	if _, _, err := j.Public(); err != nil {
		return err
	}
	_, err = j.Private()
	return err
}

func TestEncodeRejects(t *testing.T) {
	ks := testKeys(t, "encode")
	other := testKeys(t, "other")
	for name, c := range map[string]struct {
		pub  crypto.PublicKey
		priv crypto.Signer
		kind error
	}{
		"nil":             {nil, nil, ErrUnsupported},
		"nil ecdsa":       {(*ecdsa.PublicKey)(nil), nil, ErrUnsupported},
		"P-384":           {&ecdsa.PublicKey{Curve: elliptic.P384()}, nil, ErrUnsupported},
		"short ed25519":   {ed25519.PublicKey{1, 2}, nil, ErrEncoding},
		"EC mismatch":     {ks[0].Public(), other[0], ErrMismatch},
		"Ed mismatch":     {ks[1].Public(), other[1], ErrMismatch},
		"cross type":      {ks[0].Public(), ks[1], ErrMismatch},
		"cross type (Ed)": {ks[1].Public(), ks[0], ErrMismatch},
		"off-curve point": {&ecdsa.PublicKey{Curve: elliptic.P256(), X: ks[0].Public().(*ecdsa.PublicKey).X, Y: ks[0].Public().(*ecdsa.PublicKey).X}, nil, ErrPoint},
	} {
		if _, err := Encode(c.pub, c.priv, "", ""); !errors.Is(err, c.kind) {
			t.Errorf("%s: %v, want %v", name, err, c.kind)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to the codec: no panics, every failure
// is an *Error of a known kind, and every accepted key re-encodes
// canonically to the same key.
func FuzzDecode(f *testing.F) {
	for _, k := range testKeys(f, "fuzz") {
		f.Add(mustEncode(f, k.Public(), nil, "", ""))
		f.Add(mustEncode(f, k.Public(), k, "kid", "sig"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := Decode(data)
		if err != nil {
			checkKind(t, err)
			return
		}
		pub, alg, err := j.Public()
		if err != nil {
			checkKind(t, err)
			return
		}
		priv, err := j.Private()
		if err != nil {
			checkKind(t, err)
			if j.HasD == errors.Is(err, ErrNotPrivate) {
				t.Fatalf("HasD %v but %v", j.HasD, err)
			}
			priv = nil
		}
		b, err := Encode(pub, priv, j.Kid, j.Use)
		if err != nil {
			t.Fatalf("cannot re-encode accepted key: %v", err)
		}
		j2, err := Decode(b)
		if err != nil {
			t.Fatalf("re-encoded JWK rejected: %v\n%s", err, b)
		}
		pub2, alg2, err := j2.Public()
		if err != nil || alg2 != alg || !pub2.(pubEqualer).Equal(pub) || j2.Kid != j.Kid || j2.Use != j.Use {
			t.Fatalf("round trip: %v", err)
		}
		if priv != nil {
			if _, err := j2.Private(); err != nil {
				t.Fatalf("private round trip: %v", err)
			}
		}
	})
}

func checkKind(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("untyped error %v", err)
	}
	for _, k := range []error{ErrOversize, ErrSyntax, ErrUnsupported, ErrEncoding, ErrPoint, ErrMismatch, ErrNotPrivate} {
		if e.Kind == k {
			return
		}
	}
	t.Fatalf("unknown kind %v", e.Kind)
}

// TestWriteFuzzCorpus rewrites testdata/fuzz with -write-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ks := testKeys(t, "corpus")
	other := testKeys(t, "other")
	ec := ks[0].(*ecdsa.PrivateKey)
	raw, _ := ec.PublicKey.Bytes()
	x, y := b64.EncodeToString(raw[1:33]), b64.EncodeToString(raw[33:])
	od, _ := other[0].(*ecdsa.PrivateKey).Bytes()
	seeds := []string{
		string(mustEncode(t, ks[0].Public(), nil, "", "")),
		string(mustEncode(t, ks[0].Public(), ks[0], "k", "sig")),
		string(mustEncode(t, ks[1].Public(), nil, "00000000-0000-4000-8000-000000000001", "sig")),
		string(mustEncode(t, ks[1].Public(), ks[1], "", "")),
		`{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `","d":"` + b64.EncodeToString(od) + `"}`,
		`{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + x + `"}`,
		`{"kty":"EC","crv":"P-256","x":"` + x + `","x":"` + x + `","y":"` + y + `"}`,
		`{"kty":"EC","crv":"P-256","alg":"EdDSA","x":"` + x + `","y":"` + y + `"}`,
		`{"kty":"oct","k":"AAAA"}`,
		`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`,
		`not json`,
	}
	for i, s := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(s) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
