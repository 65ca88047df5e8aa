// Package mqttconn wraps a network connection for paho.golang: reads are
// buffered, and each MQTT packet goes out in one write.
//
// paho reads a packet byte by byte for its fixed header and length, and
// writes one packet as up to four separate buffers. On a plain
// net.Conn behind paho's packets.NewThreadSafeConn each of those is a
// system call and, with TCP_NODELAY (Go's default), a TCP segment of its
// own that the broker must read separately. Conn reads through a
// bufio.Reader and collects the writes made while paho holds its lock
// (paho locks a conn that implements sync.Locker around every packet) into
// one write when the lock is released.
package mqttconn

import (
	"bufio"
	"net"
	"sync"
)

// maxKeep bounds the write buffer kept between packets.
const maxKeep = 64 << 10

// Conn is a net.Conn for paho. All writes must happen while the caller
// holds the Conn's lock (paho does so for every packet); a write buffered
// under the lock is sent when the lock is released, and if that fails the
// connection is closed so the reader reports the failure.
type Conn struct {
	net.Conn
	r      *bufio.Reader
	mu     sync.Mutex
	locked bool
	buf    []byte
}

// Wrap returns c wrapped; Close closes c.
func Wrap(c net.Conn) *Conn {
	return &Conn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}
}

// Read reads through the buffer.
func (c *Conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Lock starts a packet: writes are collected until Unlock.
func (c *Conn) Lock() {
	c.mu.Lock()
	c.locked = true
}

// Unlock sends the collected packet in one write.
func (c *Conn) Unlock() {
	if len(c.buf) > 0 {
		if _, err := c.Conn.Write(c.buf); err != nil {
			_ = c.Conn.Close()
		}
		if cap(c.buf) > maxKeep {
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
func (c *Conn) Write(p []byte) (int, error) {
	if c.locked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}
