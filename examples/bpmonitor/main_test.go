package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestHelpForEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"cloud", "--help"}, {"device", "--help"}, {"portal", "--help"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		if !strings.Contains(out.String(), "Usage:") || !strings.Contains(out.String(), "--") {
			t.Fatalf("%v: no help text:\n%s", args, out.String())
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--devices", "0"},
		{"--devices", "51"},
		{"--interval", "1ms"},
		{"--idle-timeout", "1s"},
		{"--listen", "0.0.0.0:8080"},
		{"--no-such-flag"},
		{"extra-argument"},
		{"device", "--count", "0"},
		{"device", "--ota-poll", "-1s"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, errOut.String())
		}
		if n := strings.Count(errOut.String(), "\n"); n != 1 {
			t.Errorf("%v: %d lines on stderr, want one", args, n)
		}
	}
}
