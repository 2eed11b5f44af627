package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of any JSON document Vouch parses.
const maxJSONDepth = 32

// checkJSON checks that b is a single, valid UTF-8 JSON value, nested at most
// maxJSONDepth deep, with no object holding the same key twice. Duplicate
// keys are refused because different parsers resolve them differently, and a
// signed statement must mean one thing to every reader.
//
// It validates with encoding/json, then walks the (now known valid) bytes
// once to find duplicate keys, which is several times faster than a token
// stream.
func checkJSON(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("not valid UTF-8")
	}
	if !json.Valid(b) {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("invalid JSON: %v", err)
		}
		return errors.New("invalid JSON")
	}
	type frame struct {
		object bool
		keys   [][]byte
	}
	var stack []frame
	expectKey := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) == maxJSONDepth {
				return fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
			}
			stack = append(stack, frame{object: c == '{'})
			expectKey = c == '{'
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case ':':
			expectKey = false
		case '"':
			end := i + 1
			escaped := false
			for ; b[end] != '"'; end++ {
				if b[end] == '\\' {
					escaped = true
					end++
				}
			}
			if expectKey {
				key := b[i+1 : end]
				if escaped {
					var s string
					if err := json.Unmarshal(b[i:end+1], &s); err != nil {
						return fmt.Errorf("invalid JSON: %v", err)
					}
					key = []byte(s)
				}
				f := &stack[len(stack)-1]
				if slices.ContainsFunc(f.keys, func(k []byte) bool { return bytes.Equal(k, key) }) {
					return fmt.Errorf("duplicate JSON key %q", key)
				}
				f.keys = append(f.keys, key)
				expectKey = false
			}
			i = end
		}
	}
	return nil
}

// unmarshalStrict checks b with checkJSON and decodes it into v, refusing
// fields that v does not define.
func unmarshalStrict(b []byte, v any) error {
	if err := checkJSON(b); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	return nil
}
