package macos

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxPlistDepth bounds nesting: trust settings are four levels deep.
const maxPlistDepth = 32

// parsePlist decodes an XML property list into Go values: map[string]any
// for dict, []any for array, string, []byte for data, int64 for integer,
// float64 for real, bool, and string for date. A binary plist is refused
// with a precise error.
func parsePlist(b []byte) (any, error) {
	if len(b) > MaxOutput {
		return nil, fmt.Errorf("%w: property list of %d bytes is over the %d byte limit", ErrBadOutput, len(b), MaxOutput)
	}
	if bytes.HasPrefix(b, []byte("bplist")) {
		return nil, fmt.Errorf("%w: binary property list; expected XML (plutil -convert xml1)", ErrBadOutput)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: no <plist> element", ErrBadOutput)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadOutput, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "plist" {
				return nil, fmt.Errorf("%w: root element <%s>, want <plist>", ErrBadOutput, se.Name.Local)
			}
			v, err := plistValue(d, nil, 0)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadOutput, err)
			}
			return v, nil
		}
	}
}

var errEnd = errors.New("end of container")

// plistValue reads the next value. start is the value's start element if
// already read. It returns errEnd at the end element of the container.
// Long: one case per plist element type, as the format lists them.
func plistValue(d *xml.Decoder, start *xml.StartElement, depth int) (any, error) {
	if depth > maxPlistDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxPlistDepth)
	}
	if start == nil {
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.StartElement:
				start = &t
			case xml.EndElement:
				return nil, errEnd
			case xml.CharData:
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, fmt.Errorf("unexpected text %q", string(bytes.TrimSpace(t)))
				}
				continue
			default:
				continue
			}
			break
		}
	}
	switch start.Name.Local {
	case "dict":
		m := map[string]any{}
		for {
			k, err := plistValue(d, nil, depth+1)
			if err == errEnd {
				return m, nil
			}
			if err != nil {
				return nil, err
			}
			key, ok := k.(plistKey)
			if !ok {
				return nil, errors.New("dict entry without <key>")
			}
			v, err := plistValue(d, nil, depth+1)
			if err == errEnd {
				return nil, fmt.Errorf("dict key %q without a value", string(key))
			}
			if err != nil {
				return nil, err
			}
			m[string(key)] = v
		}
	case "array":
		a := []any{}
		for {
			v, err := plistValue(d, nil, depth+1)
			if err == errEnd {
				return a, nil
			}
			if err != nil {
				return nil, err
			}
			if _, ok := v.(plistKey); ok {
				return nil, errors.New("<key> inside <array>")
			}
			a = append(a, v)
		}
	case "true", "false":
		if err := d.Skip(); err != nil {
			return nil, err
		}
		return start.Name.Local == "true", nil
	}
	var text string
	if err := d.DecodeElement(&text, start); err != nil {
		return nil, err
	}
	switch start.Name.Local {
	case "key":
		return plistKey(text), nil
	case "string", "date":
		return text, nil
	case "data":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
		if err != nil {
			return nil, fmt.Errorf("<data>: %v", err)
		}
		return b, nil
	case "integer":
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("<integer>: %v", err)
		}
		return n, nil
	case "real":
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return nil, fmt.Errorf("<real>: %v", err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("unknown element <%s>", start.Name.Local)
}

type plistKey string
