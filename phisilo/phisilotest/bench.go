package phisilotest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/openiomt/sdk/phisilo"
)

// BenchmarkPutGet measures one record update plus one read per operation
// through the Silo (encryption, policy, audit in the same transaction)
// against the baseline of the same backend storing the plaintext record
// without audit. Compare the ns/op of "silo" and "plaintext-baseline" from
// the same run. The "parallel" variants run 8 clients per CPU, each on its
// own patient, as an API server would.
func BenchmarkPutGet(b *testing.B, newBackend func(b *testing.B) phisilo.Backend) {
	for _, parallel := range []bool{false, true} {
		prefix := ""
		if parallel {
			prefix = "parallel/"
		}
		b.Run(prefix+"silo", func(b *testing.B) { benchSilo(b, newBackend(b), parallel) })
		b.Run(prefix+"plaintext-baseline", func(b *testing.B) { benchPlain(b, newBackend(b), parallel) })
	}
}

func loop(b *testing.B, parallel bool, setup func() func(i int)) {
	b.ReportAllocs()
	if !parallel {
		op := setup()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			op(i)
		}
		return
	}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		op := setup()
		i := 0
		for pb.Next() {
			op(i)
			i++
		}
	})
}

func benchSilo(b *testing.B, be phisilo.Backend, parallel bool) {
	defer be.Close()
	ctx := context.Background()
	ks, err := phisilo.NewKeyset("", nil)
	if err != nil {
		b.Fatal(err)
	}
	s, err := phisilo.New(phisilo.Config{Backend: be, Keys: ks, PasswordIterations: 1000})
	if err != nil {
		b.Fatal(err)
	}
	loop(b, parallel, func() func(int) {
		rec := MarkerRecord()
		self := phisilo.Principal{UserID: "app", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
		id, err := s.Register(ctx, self, rec, nil)
		if err != nil {
			b.Fatal(err)
		}
		own := phisilo.Principal{UserID: "u", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id}
		return func(i int) {
			rec.Extensions = map[string]string{"n": strconv.Itoa(i)}
			if err := s.Update(ctx, own, id, rec); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Get(ctx, own, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchPlain(b *testing.B, be phisilo.Backend, parallel bool) {
	defer be.Close()
	ctx := context.Background()
	loop(b, parallel, func() func(int) {
		rec := MarkerRecord()
		id, _ := phisilo.NewPatientID(rand.Reader)
		return func(i int) {
			// Vary the record: SQLite skips writing a row whose bytes did
			// not change, which would let the baseline skip its commit.
			rec.Extensions = map[string]string{"n": strconv.Itoa(i)}
			pt, _ := json.Marshal(rec)
			err := be.Update(ctx, func(tx phisilo.Tx) error {
				return tx.PutRecord(ctx, phisilo.SealedRecord{Tenant: "default", Patient: id, Schema: 1, Ciphertext: pt})
			})
			if err != nil {
				b.Fatal(err)
			}
			err = be.Update(ctx, func(tx phisilo.Tx) error {
				r, err := tx.Record(ctx, "default", id)
				if err != nil {
					return err
				}
				var out phisilo.Record
				return json.Unmarshal(r.Ciphertext, &out)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
