package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/openiomt/sdk/iomt"
	"github.com/openiomt/sdk/telemetry/store"
)

func Example() {
	dir, _ := os.MkdirTemp("", "store")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, filepath.Join(dir, "readings.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	dev := iomt.MustParseDeviceID("6f1c2a9e-4b7d-4c1e-9a3f-2d5b8e7c1a40")
	pat := iomt.MustParsePatientID("0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a")
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	r := store.Reading{DeviceID: dev, PatientID: pat, Seq: 1, Time: at, Kind: iomt.KindBloodPressure,
		Data: json.RawMessage(`{"sys":128,"dia":82,"unit":0}`)}

	res, _ := s.Insert(ctx, []store.Reading{r})
	fmt.Println("inserted", res.Inserted)
	res, _ = s.Insert(ctx, []store.Reading{r}) // redelivered
	fmt.Println("duplicates", res.Duplicates)

	got, _ := s.ByPatient(ctx, pat, store.Range{From: at.Add(-time.Hour), To: at.Add(time.Hour)})
	fmt.Println(len(got), got[0].Kind, string(got[0].Data))
	// Output:
	// inserted 1
	// duplicates 1
	// 1 blood_pressure {"sys":128,"dia":82,"unit":0}
}
