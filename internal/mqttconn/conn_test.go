package mqttconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

type countingConn struct {
	net.Conn
	in           *bytes.Reader
	out          bytes.Buffer
	reads, wrote int
	fail, closed bool
}

func (c *countingConn) Read(p []byte) (int, error) { c.reads++; return c.in.Read(p) }
func (c *countingConn) Write(p []byte) (int, error) {
	c.wrote++
	if c.fail {
		return 0, errors.New("broken pipe")
	}
	return c.out.Write(p)
}
func (c *countingConn) Close() error                    { c.closed = true; return nil }
func (c *countingConn) SetReadDeadline(time.Time) error { return nil }

func publish(id uint16) *packets.Publish {
	return &packets.Publish{QoS: 1, PacketID: id, Topic: "iomt/v1/x/telemetry/blood_pressure", Payload: bytes.Repeat([]byte("e"), 450),
		Properties: &packets.Properties{}}
}

// One packet is one write to the network, not one per buffer.
func TestPacketIsOneWrite(t *testing.T) {
	raw := &countingConn{in: bytes.NewReader(nil)}
	c := Wrap(raw)
	for i := range 10 {
		if _, err := publish(uint16(i + 1)).WriteTo(c); err != nil {
			t.Fatal(err)
		}
	}
	if raw.wrote != 10 {
		t.Fatalf("%d writes for 10 packets, want 10", raw.wrote)
	}
	// The bytes are exactly what paho writes to an unwrapped conn.
	var want bytes.Buffer
	for i := range 10 {
		publish(uint16(i + 1)).WriteTo(&want)
	}
	if !bytes.Equal(raw.out.Bytes(), want.Bytes()) {
		t.Fatal("wrapped conn changed the bytes on the wire")
	}
}

// Reading packets back goes through the buffer: far fewer reads than
// paho's byte-by-byte header parsing would make.
func TestPacketsReadThroughBuffer(t *testing.T) {
	var wire bytes.Buffer
	for i := range 20 {
		publish(uint16(i + 1)).WriteTo(&wire)
	}
	raw := &countingConn{in: bytes.NewReader(wire.Bytes())}
	c := Wrap(raw)
	for i := range 20 {
		cp, err := packets.ReadPacket(c)
		if err != nil {
			t.Fatal(err)
		}
		if p := cp.Content.(*packets.Publish); p.PacketID != uint16(i+1) || len(p.Payload) != 450 {
			t.Fatalf("packet %d: id %d, %d bytes", i, p.PacketID, len(p.Payload))
		}
	}
	if _, err := packets.ReadPacket(c); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last packet: %v", err)
	}
	if raw.reads > 3 {
		t.Fatalf("%d reads for 20 packets", raw.reads)
	}
}

// A failed write closes the connection, so paho's reader sees the failure
// instead of waiting on a half-written stream.
func TestFailedWriteClosesConnection(t *testing.T) {
	raw := &countingConn{in: bytes.NewReader(nil), fail: true}
	c := Wrap(raw)
	publish(1).WriteTo(c)
	if !raw.closed {
		t.Fatal("connection left open after a failed write")
	}
}
