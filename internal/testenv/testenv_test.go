package testenv

import (
	"net"
	"testing"
)

func TestStartMosquittoRestart(t *testing.T) {
	m := StartMosquitto(t, MosquittoConfig{})
	m.Restart()
	c, err := net.Dial("tcp", m.Addr)
	if err != nil {
		t.Fatalf("broker not reachable after restart: %v", err)
	}
	c.Close()
	m.Kill()
	if _, err := net.Dial("tcp", m.Addr); err == nil {
		t.Fatal("broker still reachable after Kill")
	}
	m.Start()
}

func TestFreshPostgresDSN(t *testing.T) {
	dsn := FreshPostgresDSN(t)
	if dsn == "" {
		t.Fatal("empty DSN")
	}
}
