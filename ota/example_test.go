package ota_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/openiomt/sdk/ota"
)

// Example shows the release side signing a root and a manifest, and a
// device verifying a release with the streaming verifier.
func Example() {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

	// Release side: two root keys (threshold 2), one targets key.
	r1, _ := ota.GenerateKey(ota.AlgES256, rand.Reader)
	r2, _ := ota.GenerateKey(ota.AlgEdDSA, rand.Reader)
	t1, _ := ota.GenerateKey(ota.AlgEdDSA, rand.Reader)
	root := &ota.Root{Version: 1, Expires: now.AddDate(1, 0, 0)}
	root.Roles.Root = ota.Role{KeyIDs: []string{root.AddKey(r1.Public()), root.AddKey(r2.Public())}, Threshold: 2}
	root.Roles.Targets = ota.Role{KeyIDs: []string{root.AddKey(t1.Public())}, Threshold: 1}
	signedRoot, err := ota.SignRoot(rand.Reader, root, []*ota.PrivateKey{r1, r2})
	if err != nil {
		panic(err)
	}

	image := bytes.Repeat([]byte("firmware"), 1000)
	sum := sha256.Sum256(image)
	signedManifest, err := ota.SignManifest(rand.Reader, &ota.Manifest{
		ManifestVersion: 7, Expires: now.AddDate(0, 1, 0),
		Name: "bpm-firmware", Version: "1.4.2", SecurityVersion: 3,
		Hardware: []string{"bpm-rev-c"}, Length: int64(len(image)), SHA256: hex.EncodeToString(sum[:]),
	}, []*ota.PrivateKey{t1})
	if err != nil {
		panic(err)
	}

	// Device side: trusted root from the factory, counter 2, last manifest 6.
	v, err := ota.NewVerifier(ota.Config{HardwareID: "bpm-rev-c", Now: func() time.Time { return now }},
		ota.TrustedState{Root: signedRoot, ManifestVersion: 6}, 2)
	if err != nil {
		panic(err)
	}
	m, err := v.VerifyManifest(signedManifest)
	if err != nil {
		panic(err)
	}
	if err := v.VerifyImage(bytes.NewReader(image), io.Discard); err != nil {
		panic(err)
	}
	res, _ := v.Result()
	fmt.Println("accepted", m.Name, m.Version, "manifest version", res.State.ManifestVersion)

	// A tampered image is refused with its own sentinel error.
	v2, _ := ota.NewVerifier(ota.Config{HardwareID: "bpm-rev-c", Now: func() time.Time { return now }},
		ota.TrustedState{Root: signedRoot}, 0)
	v2.VerifyManifest(signedManifest)
	err = v2.VerifyImage(bytes.NewReader(append(image, 0)), nil)
	fmt.Println(errors.Is(err, ota.ErrImageTooLong))
	// Output:
	// accepted bpm-firmware 1.4.2 manifest version 7
	// true
}

// memSource serves an image from memory (a real device uses ota.Downloader).
type memSource []byte

func (s memSource) Open(_ context.Context, _ *ota.Manifest, off int64) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(s[off:])), nil
}

// ExampleUpdater installs a release into slot B, simulates the reboot and
// commits it after the health check.
func ExampleUpdater() {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	dir, _ := os.MkdirTemp("", "ota-example")
	defer os.RemoveAll(dir)

	rk, _ := ota.GenerateKey(ota.AlgEdDSA, rand.Reader)
	root := &ota.Root{Version: 1, Expires: now.AddDate(1, 0, 0)}
	id := root.AddKey(rk.Public())
	root.Roles.Root = ota.Role{KeyIDs: []string{id}, Threshold: 1}
	root.Roles.Targets = ota.Role{KeyIDs: []string{id}, Threshold: 1}
	signedRoot, _ := ota.SignRoot(rand.Reader, root, []*ota.PrivateKey{rk})
	image := bytes.Repeat([]byte{0xA5}, 4096)
	sum := sha256.Sum256(image)
	manifest, _ := ota.SignManifest(rand.Reader, &ota.Manifest{
		ManifestVersion: 2, Expires: now.AddDate(0, 1, 0), Name: "bpm-firmware", Version: "2.0.0",
		SecurityVersion: 2, Hardware: []string{"bpm-rev-c"}, Length: int64(len(image)), SHA256: hex.EncodeToString(sum[:]),
	}, []*ota.PrivateKey{rk})

	// Factory state.
	trust := ota.NewFileTrustStore(filepath.Join(dir, "trusted.json"))
	trust.Save(ctx, ota.TrustedState{Root: signedRoot, ManifestVersion: 1})
	counter := ota.NewFileCounterStore(filepath.Join(dir, "counter"))
	boot := ota.NewFileBootloader(filepath.Join(dir, "bootenv.json"), 3)
	boot.Boot()

	newUpdater := func() *ota.Updater {
		u, err := ota.NewUpdater(ota.UpdaterConfig{
			Verifier:   ota.Config{HardwareID: "bpm-rev-c", Now: func() time.Time { return now }},
			Slots:      ota.FileSlots{Dir: dir},
			Bootloader: boot, Trust: trust, Counter: counter,
			Journal:     ota.NewFileJournal(filepath.Join(dir, "journal.json")),
			HealthCheck: func(context.Context, *ota.Manifest) error { return nil },
		})
		if err != nil {
			panic(err)
		}
		return u
	}
	st, err := newUpdater().Install(ctx, nil, manifest, memSource(image))
	if err != nil {
		panic(err)
	}
	fmt.Println(st.State, "into slot", st.Target, "reboot:", st.RebootRequired)

	slot, _ := boot.Boot() // power cycle: the bootloader tries slot B
	st, _ = newUpdater().Resume(ctx)
	c, _ := counter.Load(ctx)
	fmt.Println("booted", slot, "->", st.State, "counter", c)
	// Output:
	// installed into slot b reboot: true
	// booted b -> committed counter 2
}
