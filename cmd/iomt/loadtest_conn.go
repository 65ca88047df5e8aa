package main

import (
	"bufio"
	"net"
	"sync"
)

// loadtestConnKeep bounds the write buffer kept between packets.
const loadtestConnKeep = 64 << 10

// loadtestConn is a copy of telemetry/internal/mqttconn (which cmd/iomt
// cannot import) for the simulated devices' connections: buffered reads
// and one write per MQTT packet, as the SDK's publisher and ingest do.
//
// loadtestConn is a net.Conn for paho. All writes must happen while the caller
// holds the Conn's lock (paho does so for every packet); a write buffered
// under the lock is sent when the lock is released, and if that fails the
// connection is closed so the reader reports the failure.
type loadtestConn struct {
	net.Conn
	r      *bufio.Reader
	mu     sync.Mutex
	locked bool
	buf    []byte
}

// wrapLoadtestConn returns c wrapped; Close closes c.
func wrapLoadtestConn(c net.Conn) *loadtestConn {
	return &loadtestConn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}
}

// Read reads through the buffer.
func (c *loadtestConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Lock starts a packet: writes are collected until Unlock.
func (c *loadtestConn) Lock() {
	c.mu.Lock()
	c.locked = true
}

// Unlock sends the collected packet in one write.
func (c *loadtestConn) Unlock() {
	if len(c.buf) > 0 {
		if _, err := c.Conn.Write(c.buf); err != nil {
			_ = c.Conn.Close()
		}
		if cap(c.buf) > loadtestConnKeep {
			c.buf = nil
		} else {
			c.buf = c.buf[:0]
		}
	}
	c.locked = false
	c.mu.Unlock()
}

// Write collects p while the lock is held, and otherwise writes it
// directly (under the lock).
func (c *loadtestConn) Write(p []byte) (int, error) {
	if c.locked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}
