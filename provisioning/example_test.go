package provisioning_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

// The manufacturer CA issues a device certificate for a CSR naming the
// device the caller authenticated, and refuses one naming any other.
func ExampleCA_Issue() {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caCert, _ := provisioning.CreateRootCA(caKey, provisioning.CAOptions{Name: "Acme device CA"})
	ca, _ := provisioning.NewCA(caCert, caKey, nil, provisioning.CAConfig{})

	device := iomt.MustParseDeviceID("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")
	key, _ := provisioning.GenerateKey(provisioning.ES256, nil)
	csr, _ := provisioning.NewCSR(device, key, nil)

	chain, err := ca.Issue(csr, device)
	fmt.Println(chain[0].Subject.CommonName, chain[0].URIs[0], err)

	other := iomt.MustParseDeviceID("1f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")
	_, err = ca.Issue(csr, other)
	fmt.Println(errors.Is(err, provisioning.ErrDeviceMismatch))
	// Output:
	// 6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f urn:uuid:6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f <nil>
	// true
}

// The cloud seals a pairing payload for the nonce the device offered; the
// phone relays it in BLE frames; the device reassembles and opens it once.
func ExamplePairingSealer() {
	provKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // cloud
	pairKey, _ := provisioning.GeneratePairingKey(nil)            // device
	device := iomt.MustParseDeviceID("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")

	opener, _ := provisioning.NewPairingOpener(provisioning.PairingOpenerConfig{
		PairingKey: pairKey, Trusted: &provKey.PublicKey, Device: device})
	session, _ := opener.NewSession(nil)

	sealer, _ := provisioning.NewPairingSealer(provisioning.PairingSealerConfig{Key: provKey})
	patient, _ := iomt.NewPatientID(nil)
	sealed, _ := sealer.Seal(provisioning.PairingPayload{
		Device: device, Nonce: session.Nonce(),
		SSID: "HomeNet", Passphrase: "correct horse battery", Security: provisioning.WiFiWPA2,
		Patient: patient, BrokerURL: "mqtts://broker.example.com:8883",
		EnrollmentURL: "https://enroll.example.com", EnrollmentToken: "token-from-the-cloud",
	}, &pairKey.PublicKey)

	frames, _ := provisioning.SplitFrames(sealed, 185)
	var r provisioning.Reassembler
	var msg []byte
	for _, f := range frames {
		msg, _ = r.Add(f)
	}
	p, err := session.Open(msg)
	fmt.Println(p.Patient == patient, p.SSID, err)
	_, err = session.Open(msg)
	fmt.Println(errors.Is(err, provisioning.ErrStaleNonce))
	// Output:
	// true HomeNet <nil>
	// true
}

// An enrolment token names one device; a verifier rejects it for another.
func ExampleTokenVerifier_Verify() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issuer, _ := provisioning.NewTokenIssuer(provisioning.TokenIssuerConfig{Key: key})
	verifier, _ := provisioning.NewTokenVerifier(provisioning.TokenVerifierConfig{Key: &key.PublicKey})

	device := iomt.MustParseDeviceID("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")
	patient, _ := iomt.NewPatientID(nil)
	token, _, _ := issuer.Issue(device, patient)

	claims, err := verifier.Verify(token, device)
	fmt.Println(claims.Patient == patient, err)
	_, err = verifier.Verify(token, iomt.MustParseDeviceID("1f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"))
	fmt.Println(err)
	// Output:
	// true <nil>
	// provisioning: enrolment token: sub: device identifier mismatch
}

// An operator CA issues the broker's server certificate and a client
// certificate for the ingest service; IdentifyPeer tells the ingest
// worker from devices.
func ExampleCA_IssueServiceCertificate() {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caCert, _ := provisioning.CreateRootCA(caKey, provisioning.CAOptions{Name: "Acme operator CA"})
	ca, _ := provisioning.NewCA(caCert, caKey, nil, provisioning.CAConfig{Validity: 7 * 24 * time.Hour})

	serverKey, _ := provisioning.GenerateKey(provisioning.ES256, nil)
	server, _ := ca.IssueServerCertificate(serverKey.Public(), provisioning.ServerCertificateOptions{
		DNSNames: []string{"broker.example.com"}})
	fmt.Println(server[0].DNSNames, server[0].ExtKeyUsage[0] == x509.ExtKeyUsageServerAuth)

	ingestKey, _ := provisioning.GenerateKey(provisioning.ES256, nil)
	chain, _ := ca.IssueServiceCertificate(ingestKey.Public(), "ingest")
	peer, err := provisioning.IdentifyPeer(chain[0])
	fmt.Println(peer, chain[0].URIs[0], err)

	_, err = ca.IssueServiceCertificate(ingestKey.Public(), "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")
	fmt.Println(errors.Is(err, provisioning.ErrInvalidConfig))
	// Output:
	// [broker.example.com] true
	// service ingest urn:iomt:service:ingest <nil>
	// true
}
