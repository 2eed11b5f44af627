package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
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
func checkJSON(b []byte) error { return checkJSONKeys(b, nil) }

// checkJSONKeys is checkJSON that also refuses, as soon as it meets one, a
// key of the top-level object that is not in known (nil: any key goes).
// Refusing an unknown key before reading further keeps a body stuffed
// with keys as cheap to refuse as a short one.
func checkJSONKeys(b []byte, known map[string]bool) error {
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
				// The key's bytes are read in place: b outlives the check.
				key := unsafe.String(unsafe.SliceData(b[i+1:end]), end-i-1)
				if escaped {
					if err := json.Unmarshal(b[i:end+1], &key); err != nil {
						return fmt.Errorf("invalid JSON: %v", err)
					}
				}
				if known != nil && len(stack) == 1 && !known[key] {
					return fmt.Errorf("unknown field %q", key)
				}
				if !object().add(b, i, key) {
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
// slice; from smallSet keys on, a map from each key's hash to where the key
// starts in the document keeps every check constant-time whatever the
// number of keys (and holds no pointers for the garbage collector to walk).
type keySet struct {
	object bool
	few    []seenKey
	many   map[uint64]int
	// collided holds keys whose hash an unequal key took first: with a
	// random 64-bit seed this never happens in practice, but the check
	// stays exact if it does.
	collided []string
}

// seenKey is a key and the offset of its opening quote in the document.
type seenKey struct {
	key string
	at  int
}

const smallSet = 8

// keySeed seeds the key hashes; being random per process, nobody can
// craft keys that collide.
var keySeed = maphash.MakeSeed()

// add records key, whose opening quote is at offset at of doc, and reports
// whether it was new.
func (s *keySet) add(doc []byte, at int, key string) bool {
	if s.many == nil {
		if slices.ContainsFunc(s.few, func(k seenKey) bool { return k.key == key }) {
			return false
		}
		if len(s.few) < smallSet {
			s.few = append(s.few, seenKey{key, at})
			return true
		}
		s.many = make(map[uint64]int, 4*smallSet)
		for _, k := range s.few {
			s.many[maphash.String(keySeed, k.key)] = k.at
		}
		s.few = nil
	}
	h := maphash.String(keySeed, key)
	if prev, ok := s.many[h]; ok {
		if keyAt(doc, prev) == key || slices.Contains(s.collided, key) {
			return false
		}
		s.collided = append(s.collided, key)
		return true
	}
	s.many[h] = at
	return true
}

// keyAt returns the (unescaped) string that starts at offset at of a
// valid JSON document.
func keyAt(doc []byte, at int) string {
	end := at + 1
	escaped := false
	for ; doc[end] != '"'; end++ {
		if doc[end] == '\\' {
			escaped = true
			end++
		}
	}
	if !escaped {
		return string(doc[at+1 : end])
	}
	var s string
	json.Unmarshal(doc[at:end+1], &s)
	return s
}

// UnmarshalStrict decodes b into v as Vouch decodes everything it is sent:
// no fields v does not define, no key twice in an object, at most 32
// levels deep, valid UTF-8.
func UnmarshalStrict(b []byte, v any) error { return unmarshalStrict(b, v) }

// unmarshalStrict checks b with checkJSON, refusing at once a top-level
// field that v (a pointer to a struct) does not define, and decodes it into
// v, refusing unknown fields deeper down too.
func unmarshalStrict(b []byte, v any) error {
	if err := checkJSONKeys(b, fieldsOf(v)); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// fieldNames caches, per struct type, the JSON names of its fields.
var fieldNames sync.Map // reflect.Type -> map[string]bool

// fieldsOf returns the JSON field names of the struct v points to, or nil
// if v is not a pointer to a struct.
func fieldsOf(v any) map[string]bool {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	if m, ok := fieldNames.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous {
			return nil // embedded fields: let the decoder judge
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		m[name] = true
	}
	fieldNames.Store(t, m)
	return m
}
