package e2e_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/provisioning"
)

// ingestStore returns an identity store for the cloud's ingest client,
// with a certificate from the device CA so the broker admits it.
func ingestStore(t *testing.T, c *cloud) provisioning.IdentityStore {
	t.Helper()
	id, _ := iomt.NewDeviceID(nil)
	key, _ := provisioning.GenerateKey(provisioning.ES256, nil)
	csr, _ := provisioning.NewCSR(id, key, nil)
	chain, err := c.deviceCA.Issue(csr, id)
	if err != nil {
		t.Fatal(err)
	}
	s := &provisioning.FileStore{Dir: t.TempDir()}
	if err := s.Save(context.Background(), &provisioning.Identity{Device: id, Key: key, Chain: chain, BrokerURL: "mqtts://" + c.broker.Addr}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEndToEnd: factory → phone registration → token → pairing payload over
// BLE frames → device decrypts → HTTPS enrolment → mutual-TLS MQTT v5 to
// Mosquitto → one signed telemetry envelope published, received by the
// ingest and accepted by the telemetry verifier with the registry as key
// resolver; then the device is revoked: its reconnection is refused by the
// broker (CRL) and its envelopes by the verifier.
func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newCloud(t)
	d := factory(t, c)
	pat := pairAndEnroll(t, c, d)

	rec, err := c.registry.Lookup(ctx, d.id.Device)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != provisioning.StatusActive || rec.Patient != pat {
		t.Fatalf("registry after enrolment: status %s", rec.Status)
	}

	// Cloud ingest subscribes.
	received := make(chan *paho.Publish, 1)
	ingest, err := connect(ctx, t, c, ingestStore(t, c), func(pr paho.PublishReceived) (bool, error) {
		// Copy: the packet's buffers are not ours after the callback.
		msg := &paho.Publish{Topic: pr.Packet.Topic, Payload: append([]byte(nil), pr.Packet.Payload...)}
		select {
		case received <- msg:
		default:
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("ingest connect: %v", err)
	}
	defer ingest.Disconnect(&paho.Disconnect{})
	if _, err := ingest.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "iomt/v1/+/telemetry/+", QoS: 1}}}); err != nil {
		t.Fatalf("subscribe: %v; broker log:\n%s", err, c.broker.Log())
	}

	// The device connects with the identity it stored and publishes.
	pc, err := connect(ctx, t, c, d.store, nil)
	if err != nil {
		t.Fatalf("device connect with mutual TLS: %v", err)
	}
	topic := "iomt/v1/" + d.id.Device.String() + "/telemetry/" + string(iomt.KindBloodPressure)
	payload, check := envelope(t, c, d, pat, topic)
	resp, err := pc.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	if err != nil || resp.ReasonCode != 0 {
		t.Fatalf("publish: %v", err)
	}
	_ = pc.Disconnect(&paho.Disconnect{})
	select {
	case msg := <-received:
		if msg.Topic != topic {
			t.Fatalf("received on another topic")
		}
		if err := check(ctx, msg.Topic, msg.Payload); err != nil {
			t.Fatalf("ingest rejects the device's message: %v; broker log:\n%s", err, c.broker.Log())
		}
	case <-ctx.Done():
		t.Fatal("ingest received nothing")
	}

	// Revocation: registry, CRL for the broker, and the broker reloads.
	if err := c.registry.Revoke(ctx, d.id.Device); err != nil {
		t.Fatal(err)
	}
	revoked, err := c.registry.RevokedSerials(ctx)
	if err != nil || len(revoked) != 1 || revoked[0].Cmp(d.id.Chain[0].SerialNumber) != 0 {
		t.Fatalf("registry's revoked serials: %d, %v", len(revoked), err)
	}
	c.publishCRL(t, revoked...)
	c.broker.Restart()
	if err := revokedCheck(ctx, c, d, pat, topic); err != nil {
		t.Fatal(err)
	}
	pc, err = connect(ctx, t, c, d.store, nil)
	if err == nil {
		// TLS 1.3 reports a refused client certificate after the client's
		// handshake; the CONNECT must fail then.
		_ = pc.Disconnect(&paho.Disconnect{})
		t.Fatal("revoked device reconnected to the broker")
	}
	var ce *connackError
	if errors.As(err, &ce) {
		t.Logf("broker refused at CONNACK (reason %d)", ce.code)
	}
	// Nor can it re-enrol, with its certificate or with a fresh token.
	if err := c.registry.CheckCertificate(ctx, d.id.Device, d.id.Chain[0].SerialNumber); !errors.Is(err, provisioning.ErrRevoked) {
		t.Fatalf("registry still accepts the revoked certificate: %v", err)
	}
}
