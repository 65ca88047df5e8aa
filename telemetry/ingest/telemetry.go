package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/openiomt/sdk/telemetry"
	"github.com/openiomt/sdk/telemetry/store"
)

// FromTelemetry adapts a *telemetry.Verifier to [Verifier]: Check runs
// telemetry.Verifier.Check (every check, topic binding included, recording
// nothing) and converts the payload to a store.Reading; Commit records the
// sequence number in the replay window after the store commit. A Commit
// that finds the sequence already recorded by another worker is not an
// error here.
func FromTelemetry(v *telemetry.Verifier) Verifier { return telemetryVerifier{v} }

type telemetryVerifier struct{ v *telemetry.Verifier }

func (t telemetryVerifier) Check(ctx context.Context, topic string, envelope []byte) (Accepted, error) {
	p, err := t.v.Check(ctx, topic, envelope)
	if err != nil {
		return Accepted{}, err
	}
	r, err := ReadingFromPayload(p)
	if err != nil {
		return Accepted{}, err
	}
	return Accepted{Reading: r, Token: p}, nil
}

func (t telemetryVerifier) Commit(ctx context.Context, a Accepted) error {
	p, ok := a.Token.(*telemetry.Payload)
	if !ok {
		return errors.New("ingest: Commit of a reading not checked by this verifier")
	}
	if err := t.v.Commit(ctx, p); err != nil && !errors.Is(err, telemetry.ErrReplay) {
		return err
	}
	return nil
}

// ReadingFromPayload converts a verified telemetry payload to the row the
// store keeps: identifiers, sequence, time, kind and the reading's numeric
// JSON.
func ReadingFromPayload(p *telemetry.Payload) (store.Reading, error) {
	if p == nil || p.Reading == nil {
		return store.Reading{}, errors.New("ingest: empty payload")
	}
	data, err := json.Marshal(p.Reading)
	if err != nil {
		return store.Reading{}, fmt.Errorf("ingest: encode reading data: %w", err)
	}
	return store.Reading{DeviceID: p.Device, PatientID: p.Patient, Seq: p.Seq, Time: p.Time, Kind: p.Kind, Data: data}, nil
}
