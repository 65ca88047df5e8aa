package provisioning

import (
	"encoding/binary"
	"hash/crc32"
)

// BLE framing limits. The MTU is the largest write the GATT link carries
// (ATT_MTU - 3): 20 bytes on a default link, up to 512 after negotiation.
const (
	MinMTU = 20
	MaxMTU = 512
	// DefaultMaxFramedMessage is the largest message a zero-value
	// Reassembler accepts; a sealed pairing payload is far smaller.
	DefaultMaxFramedMessage = MaxPairingSize
	// MaxFramedMessage is the largest message SplitFrames produces and the
	// largest Reassembler.MaxMessageSize honoured.
	MaxFramedMessage = 64 << 10

	frameVersion    = 1
	frameHeader     = 3 // version, sequence (uint16 big endian)
	firstFrameExtra = 8 // message length, CRC-32C (uint32 big endian each)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SplitFrames splits msg into frames of at most mtu bytes for a BLE GATT
// characteristic. Every frame starts with a version byte and a 16-bit
// sequence number; the first also carries the message length and its
// CRC-32C, so the receiver detects gaps, duplicates, truncation and
// corruption. mtu must be within [MinMTU, MaxMTU] and msg 1 to
// MaxFramedMessage bytes.
func SplitFrames(msg []byte, mtu int) ([][]byte, error) {
	const op = "split frames"
	if mtu < MinMTU || mtu > MaxMTU {
		return nil, newErr(op, "mtu", ErrInvalidConfig)
	}
	if len(msg) == 0 {
		return nil, newErr(op, "message", ErrMalformed)
	}
	if len(msg) > MaxFramedMessage {
		return nil, newErr(op, "message", ErrTooLarge)
	}
	var frames [][]byte
	for seq := 0; len(msg) > 0 || seq == 0; seq++ {
		room := mtu - frameHeader
		f := make([]byte, frameHeader, mtu)
		f[0] = frameVersion
		binary.BigEndian.PutUint16(f[1:], uint16(seq))
		if seq == 0 {
			f = binary.BigEndian.AppendUint32(f, uint32(len(msg)))
			f = binary.BigEndian.AppendUint32(f, crc32.Checksum(msg, castagnoli))
			room -= firstFrameExtra
		}
		n := min(room, len(msg))
		f = append(f, msg[:n]...)
		msg = msg[n:]
		frames = append(frames, f)
	}
	return frames, nil
}

// Reassembler rebuilds a message from frames made by [SplitFrames], in
// order. It rejects a frame that skips ahead ([ErrFrameGap]), repeats one
// already received ([ErrFrameDuplicate]), exceeds MaxMTU or the declared or
// allowed length ([ErrTooLarge]), or is malformed ([ErrMalformed]), and a
// message whose CRC-32C does not match ([ErrFrameIntegrity]). After any
// error, or a completed message, it starts over at sequence 0. Memory use
// is bounded by MaxMessageSize, never by the length a peer declares.
//
// The zero value is ready to use. A Reassembler is not safe for concurrent
// use; BLE writes arrive serialized.
type Reassembler struct {
	// MaxMessageSize is the largest message accepted; zero means
	// DefaultMaxFramedMessage. Values above MaxFramedMessage are capped.
	MaxMessageSize int

	started bool
	next    uint16
	want    int
	sum     uint32
	buf     []byte
}

// Reset discards any partial message.
func (r *Reassembler) Reset() {
	r.started, r.next, r.want, r.sum, r.buf = false, 0, 0, 0, nil
}

func (r *Reassembler) max() int {
	switch {
	case r.MaxMessageSize <= 0:
		return DefaultMaxFramedMessage
	case r.MaxMessageSize > MaxFramedMessage:
		return MaxFramedMessage
	}
	return r.MaxMessageSize
}

// Add consumes one frame. It returns the complete message after its last
// frame, nil before that.
func (r *Reassembler) Add(frame []byte) ([]byte, error) {
	msg, err := r.add(frame)
	if err != nil {
		r.Reset()
		return nil, newErr("reassemble frames", "", err)
	}
	return msg, nil
}

func (r *Reassembler) add(frame []byte) ([]byte, error) {
	if len(frame) > MaxMTU {
		return nil, ErrTooLarge
	}
	if len(frame) < frameHeader || frame[0] != frameVersion {
		return nil, ErrMalformed
	}
	seq := binary.BigEndian.Uint16(frame[1:])
	data := frame[frameHeader:]
	switch {
	case !r.started && seq != 0:
		return nil, ErrFrameGap
	case r.started && seq < r.next:
		return nil, ErrFrameDuplicate
	case r.started && seq > r.next:
		return nil, ErrFrameGap
	}
	if seq == 0 {
		if len(data) < firstFrameExtra {
			return nil, ErrMalformed
		}
		want := binary.BigEndian.Uint32(data)
		if want == 0 {
			return nil, ErrMalformed
		}
		if uint64(want) > uint64(r.max()) {
			return nil, ErrTooLarge
		}
		r.started, r.want, r.sum = true, int(want), binary.BigEndian.Uint32(data[4:])
		data = data[firstFrameExtra:]
	} else if len(data) == 0 {
		return nil, ErrMalformed // an empty frame would let a peer spin forever
	}
	if len(r.buf)+len(data) > r.want {
		return nil, ErrTooLarge
	}
	if r.next == 0xffff && len(r.buf)+len(data) < r.want {
		return nil, ErrTooLarge
	}
	r.buf = append(r.buf, data...)
	r.next++
	if len(r.buf) < r.want {
		return nil, nil
	}
	msg, sum := r.buf, r.sum
	r.Reset()
	if crc32.Checksum(msg, castagnoli) != sum {
		return nil, ErrFrameIntegrity
	}
	return msg, nil
}
