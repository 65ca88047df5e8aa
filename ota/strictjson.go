package ota

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// decodeStrict decodes exactly one JSON value into v, rejecting unknown
// fields, duplicate object keys, nesting deeper than MaxJSONDepth and
// trailing data. Errors name doc, never the input's content.
func decodeStrict(doc string, data []byte, v any) error {
	if err := checkDuplicatesAndDepth(data); err != nil {
		return &FieldError{Doc: doc, Field: "(json)", Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return malformed(doc, ute.Field)
		}
		return malformed(doc, "(json)")
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed(doc, "(trailing data)")
	}
	return nil
}

var errDuplicateKey = errors.New("ota: duplicate object key")
var errTooDeep = errors.New("ota: nesting too deep")

// checkDuplicatesAndDepth walks the token stream once.
func checkDuplicatesAndDepth(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []*jsonFrame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return ErrMalformed
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.expKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				markValueDone(stack)
				continue
			}
			k, _ := tok.(string)
			if _, dup := top.keys[k]; dup {
				return errDuplicateKey
			}
			top.keys[k] = struct{}{}
			top.expKey = false
			continue
		}
		switch d := tok.(type) {
		case json.Delim:
			switch d {
			case '{', '[':
				if len(stack) >= MaxJSONDepth {
					return errTooDeep
				}
				stack = append(stack, &jsonFrame{obj: d == '{', keys: map[string]struct{}{}, expKey: d == '{'})
			default: // ']' ('}' handled above)
				stack = stack[:len(stack)-1]
				markValueDone(stack)
			}
		default:
			markValueDone(stack)
		}
	}
}

type jsonFrame struct {
	obj    bool
	keys   map[string]struct{}
	expKey bool
}

// markValueDone records that a value ended: an object then expects a key.
func markValueDone(stack []*jsonFrame) {
	if n := len(stack); n > 0 && stack[n-1].obj {
		stack[n-1].expKey = true
	}
}
