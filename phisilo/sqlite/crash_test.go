package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/phisilotest"
	"github.com/openiomt/sdk/phisilo/sqlite"
)

const crashEnv = "PHISILO_SQLITE_CRASH_DB"

// TestCrashChild is the helper process of TestCrashMidWrite: it registers
// patients until it is killed, printing a line after each commit.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrashMidWrite")
	}
	b, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := phisilo.NewKeyset("", nil)
	s, _ := phisilo.New(phisilo.Config{Backend: b, Keys: ks})
	self := phisilo.Principal{UserID: "app", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	for i := 0; ; i++ {
		if _, err := s.Register(context.Background(), self, phisilotest.MarkerRecord(), nil); err != nil {
			t.Fatal(err)
		}
		fmt.Println("committed", i)
	}
}

// TestCrashMidWrite kills a writer with SIGKILL in the middle of its
// stream of transactions: after reopening, the audit chain verifies and
// every audited registration has its key and record (and no key or record
// exists without its audit event).
func TestCrashMidWrite(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the helper process")
	}
	path := filepath.Join(t.TempDir(), "silo.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for n := 0; n < 40 && sc.Scan(); n++ {
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	b := openAt(t, path)
	defer b.Close()
	ctx := context.Background()
	n, err := phisilo.VerifyAudit(ctx, b, phisilo.VerifyOptions{})
	if err != nil {
		t.Fatalf("audit after crash: %v", err)
	}
	if n < 40 {
		t.Fatalf("%d audit entries survived, want at least the 40 acknowledged", n)
	}
	var keys, records int
	if err := b.DB.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM phisilo_keys), (SELECT count(*) FROM phisilo_records)").Scan(&keys, &records); err != nil {
		t.Fatal(err)
	}
	if uint64(keys) != n || uint64(records) != n {
		t.Fatalf("after crash: %d audit entries, %d keys, %d records; want equal", n, keys, records)
	}
}
