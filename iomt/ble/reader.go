package ble

import "encoding/binary"

// reader walks a characteristic value, turning a short read into a
// *FieldError naming the field.
type reader struct {
	c   Characteristic
	b   []byte
	off int
}

func (r *reader) need(field string, n int) error {
	if len(r.b)-r.off < n {
		return &FieldError{r.c, field, r.off, ErrTruncated}
	}
	return nil
}

func (r *reader) u8(field string) (byte, error) {
	if err := r.need(field, 1); err != nil {
		return 0, err
	}
	v := r.b[r.off]
	r.off++
	return v, nil
}

func (r *reader) u16(field string) (uint16, error) {
	if err := r.need(field, 2); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v, nil
}

// end fails with ErrTrailingData when bytes remain.
func (r *reader) end() error {
	if r.off != len(r.b) {
		return &FieldError{r.c, "value", r.off, ErrTrailingData}
	}
	return nil
}

// checkLen applies MaxAttributeLen before anything is read.
func checkLen(c Characteristic, b []byte) error {
	if len(b) > MaxAttributeLen {
		return &FieldError{c, "value", 0, ErrTooLong}
	}
	return nil
}
