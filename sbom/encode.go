package sbom

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Encode writes bom to w in format (JSON when empty) and spec version (1.6
// when empty), indented. Writing 1.5 drops 1.6-only fields. Errors wrap
// [ErrUnsupported] for other versions or formats.
func Encode(w io.Writer, bom *cdx.BOM, format Format, spec SpecVersion) error {
	sv, err := spec.cdx()
	if err != nil {
		return err
	}
	var f cdx.BOMFileFormat
	switch format {
	case "", FormatJSON:
		f = cdx.BOMFileFormatJSON
	case FormatXML:
		f = cdx.BOMFileFormatXML
	default:
		return fmt.Errorf("%w: format (want json or xml)", ErrUnsupported)
	}
	bw := bufio.NewWriter(w)
	enc := cdx.NewBOMEncoder(bw, f)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, sv); err != nil {
		return fmt.Errorf("sbom: encode: %w", err)
	}
	if f == cdx.BOMFileFormatXML {
		if _, err := bw.WriteString("\n"); err != nil {
			return fmt.Errorf("sbom: encode: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("sbom: encode: %w", err)
	}
	return nil
}

// Decode reads a CycloneDX JSON or XML document (detected from its first
// byte), at most maxSize bytes (zero means [DefaultMaxInputSize]) and at
// most [DefaultMaxComponents] components, nested ones included. Errors wrap
// [ErrMalformedBOM] or [ErrTooLarge].
func Decode(r io.Reader, maxSize int64) (*cdx.BOM, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxInputSize
	}
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read: %v", ErrMalformedBOM, err)
	}
	if int64(len(data)) > maxSize {
		return nil, &LimitError{What: "BOM size", Limit: maxSize}
	}
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	var f cdx.BOMFileFormat
	switch {
	case len(t) > 0 && t[0] == '{':
		f = cdx.BOMFileFormatJSON
	case len(t) > 0 && t[0] == '<':
		f = cdx.BOMFileFormatXML
	default:
		return nil, &ParseError{Input: "bom", Err: fmt.Errorf("%w: neither JSON nor XML", ErrMalformedBOM)}
	}
	bom := new(cdx.BOM)
	if err := cdx.NewBOMDecoder(bytes.NewReader(t), f).Decode(bom); err != nil {
		msg := "invalid JSON"
		if f == cdx.BOMFileFormatXML {
			msg = "invalid XML"
		}
		if f == cdx.BOMFileFormatJSON {
			msg = jsonErr(err).Error()
		}
		return nil, &ParseError{Input: "bom", Err: fmt.Errorf("%w: %s", ErrMalformedBOM, msg)}
	}
	if bom.BOMFormat != "" && bom.BOMFormat != cdx.BOMFormat {
		return nil, &ParseError{Input: "bom", Where: "bomFormat", Err: fmt.Errorf("%w: not CycloneDX", ErrMalformedBOM)}
	}
	if n := countComponents(bom.Components, 0); n > DefaultMaxComponents {
		return nil, &LimitError{What: "components", Limit: DefaultMaxComponents}
	}
	return bom, nil
}

func countComponents(cs *[]cdx.Component, depth int) int {
	if cs == nil {
		return 0
	}
	if depth > 32 {
		return DefaultMaxComponents + 1
	}
	n := len(*cs)
	for i := range *cs {
		n += countComponents((*cs)[i].Components, depth+1)
		if n > DefaultMaxComponents {
			return n
		}
	}
	return n
}
