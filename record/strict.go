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
// stream. The walk is linear in the input: each object's keys go into a set
// once the object has more than a few of them, so a body of many keys (an
// attacker's favourite) costs no more per byte than any other.
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
	var stack []keySet
	object := func() *keySet { return &stack[len(stack)-1] }
	expectKey := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) == maxJSONDepth {
				return fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
			}
			stack = append(stack, keySet{object: c == '{'})
			expectKey = c == '{'
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && object().object
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
				key := string(b[i+1 : end])
				if escaped {
					if err := json.Unmarshal(b[i:end+1], &key); err != nil {
						return fmt.Errorf("invalid JSON: %v", err)
					}
				}
				if !object().add(key) {
					return fmt.Errorf("duplicate JSON key %q", key)
				}
				expectKey = false
			}
			i = end
		}
	}
	return nil
}

// keySet holds the keys seen so far in one open JSON object (or nothing,
// for an array). Small objects, the common case, keep their keys in a
// slice; from smallSet keys on, a map keeps every check constant-time.
type keySet struct {
	object bool
	few    []string
	many   map[string]struct{}
}

const smallSet = 8

// add records key and reports whether it was new.
func (s *keySet) add(key string) bool {
	if s.many != nil {
		if _, dup := s.many[key]; dup {
			return false
		}
		s.many[key] = struct{}{}
		return true
	}
	if slices.Contains(s.few, key) {
		return false
	}
	if len(s.few) < smallSet {
		s.few = append(s.few, key)
		return true
	}
	s.many = make(map[string]struct{}, 2*smallSet)
	for _, k := range s.few {
		s.many[k] = struct{}{}
	}
	s.many[key] = struct{}{}
	s.few = nil
	return true
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
