package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// On-disk record layout (all integers big-endian):
//
//	magic   [4]byte  "IOX1"
//	crc     uint32   CRC-32C of everything after the length field
//	length  uint32   number of bytes after this header (type + body)
//	type    uint8    recEntry or recAck
//	body:
//	  entry: id uint64 | topicLen uint16 | topic | payload
//	  ack:   id uint64
//
// A record is valid only if the magic matches, the length is within the
// limit, the whole record is present and the checksum matches. Anything else
// is a torn or corrupt record.
const (
	headerLen = 12
	recEntry  = 1
	recAck    = 2
)

var (
	magic    = [4]byte{'I', 'O', 'X', '1'}
	crcTable = crc32.MakeTable(crc32.Castagnoli)

	errTorn    = errors.New("outbox: torn record")
	errCorrupt = errors.New("outbox: corrupt record")
)

// record is one decoded record.
type record struct {
	typ     byte
	id      uint64
	topic   string
	payload []byte
}

// appendEntry appends the encoding of an entry record to b.
func appendEntry(b []byte, id uint64, topic string, payload []byte) []byte {
	n := 1 + 8 + 2 + len(topic) + len(payload)
	start := len(b)
	b = append(b, magic[:]...)
	b = binary.BigEndian.AppendUint32(b, 0) // crc placeholder
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, recEntry)
	b = binary.BigEndian.AppendUint64(b, id)
	b = binary.BigEndian.AppendUint16(b, uint16(len(topic)))
	b = append(b, topic...)
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+headerLen:], crcTable))
	return b
}

// appendAck appends the encoding of an acknowledgement record to b.
func appendAck(b []byte, id uint64) []byte {
	start := len(b)
	b = append(b, magic[:]...)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 9)
	b = append(b, recAck)
	b = binary.BigEndian.AppendUint64(b, id)
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+headerLen:], crcTable))
	return b
}

// decodeRecord decodes the record at the start of b. It returns the record
// and its encoded size, errTorn when b ends before the record does (a write
// cut short), or errCorrupt when the bytes cannot be a valid record. maxLen
// bounds the length field so that a corrupt length never drives allocation.
func decodeRecord(b []byte, maxLen int) (record, int, error) {
	if len(b) < headerLen {
		if len(b) > 0 && !bytes.HasPrefix(magic[:], b[:min(len(b), 4)]) {
			return record{}, 0, errCorrupt
		}
		return record{}, 0, errTorn
	}
	if !bytes.Equal(b[:4], magic[:]) {
		return record{}, 0, errCorrupt
	}
	sum := binary.BigEndian.Uint32(b[4:8])
	n := int(binary.BigEndian.Uint32(b[8:12]))
	if n < 9 || n > maxLen {
		return record{}, 0, errCorrupt
	}
	if len(b) < headerLen+n {
		return record{}, 0, errTorn
	}
	body := b[headerLen : headerLen+n]
	if crc32.Checksum(body, crcTable) != sum {
		return record{}, 0, errCorrupt
	}
	r := record{typ: body[0], id: binary.BigEndian.Uint64(body[1:9])}
	switch r.typ {
	case recAck:
		if n != 9 {
			return record{}, 0, errCorrupt
		}
	case recEntry:
		if n < 11 {
			return record{}, 0, errCorrupt
		}
		tl := int(binary.BigEndian.Uint16(body[9:11]))
		if 11+tl > n {
			return record{}, 0, errCorrupt
		}
		r.topic = string(body[11 : 11+tl])
		r.payload = bytes.Clone(body[11+tl:])
	default:
		return record{}, 0, errCorrupt
	}
	return r, headerLen + n, nil
}

// resync returns the offset of the next valid record in b after a corrupt one
// at offset 0, or len(b) when there is none.
func resync(b []byte, maxLen int) int {
	for i := 1; i < len(b); i++ {
		j := bytes.Index(b[i:], magic[:])
		if j < 0 {
			return len(b)
		}
		i += j
		if _, _, err := decodeRecord(b[i:], maxLen); err == nil {
			return i
		}
	}
	return len(b)
}
