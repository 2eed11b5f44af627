package record

import (
	"bytes"
	"encoding"
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
// key that sc does not define for the object it is in (nil: any key goes).
// Refusing an unknown key before reading further keeps a body stuffed
// with keys as cheap to refuse as a short one.
func checkJSONKeys(b []byte, sc *schema) error {
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
	// next is the schema of the value about to start: sc for the
	// document, then the field's or the element's.
	next := sc
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) == maxJSONDepth {
				return fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
			}
			if next != nil && (c == '{') != next.object() {
				next = nil // the wrong kind of value: the decoder says so
			}
			stack = append(stack, keySet{object: c == '{', schema: next})
			expectKey = c == '{'
			if c == '[' && next != nil {
				next = next.elem
			} else {
				next = nil
			}
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && object().object
			if len(stack) > 0 && !object().object && object().schema != nil {
				next = object().schema.elem
			}
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
				if in := object().schema; in != nil && in.values != nil {
					next = in.values
				} else if in != nil {
					f, ok := in.fields[key]
					if !ok {
						return fmt.Errorf("unknown field %q", key)
					}
					next = f
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
	// schema is what the object's keys or the array's elements must be,
	// or nil if anything goes.
	schema *schema
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

// unmarshalStrict checks b with checkJSON, refusing, as soon as it meets
// one, a field that v's type does not define at any depth, and decodes it
// into v. Decoding with json.Unmarshal rather than a Decoder keeps memory
// to the document and what is decoded from it: a Decoder would first copy
// the whole document into a buffer of its own.
func unmarshalStrict(b []byte, v any) error {
	sc, ok := schemaFor(reflect.TypeOf(v))
	if !ok {
		// A type the schema cannot describe: the decoder judges.
		if err := checkJSON(b); err != nil {
			return err
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	if err := checkJSONKeys(b, sc); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// A schema is the JSON shape of a Go type, as far as unknown fields go: the
// fields of a struct (each with its value's schema), the elements of a
// slice or the values of a map. A nil *schema accepts anything
// (interfaces, raw messages, scalars, types that decode themselves).
type schema struct {
	fields map[string]*schema // non-nil for a struct
	elem   *schema            // a slice's or array's elements
	values *schema            // a map's values (its keys are free)
}

// object reports whether the schema is of a JSON object.
func (s *schema) object() bool { return s.fields != nil || s.values != nil }

// schemas caches schemaFor per type.
var schemas sync.Map // reflect.Type -> schemaResult

type schemaResult struct {
	s  *schema
	ok bool
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// schemaFor returns the schema of the value t points to; ok is false for
// a type it cannot describe exactly (embedded or recursive structs).
func schemaFor(t reflect.Type) (*schema, bool) {
	if t == nil || t.Kind() != reflect.Pointer {
		return nil, false
	}
	if r, ok := schemas.Load(t); ok {
		return r.(schemaResult).s, r.(schemaResult).ok
	}
	s, ok := schemaOf(t.Elem(), map[reflect.Type]bool{})
	schemas.Store(t, schemaResult{s, ok})
	return s, ok
}

func schemaOf(t reflect.Type, open map[reflect.Type]bool) (*schema, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil, true
	}
	switch t.Kind() {
	case reflect.Map:
		v, ok := schemaOf(t.Elem(), open)
		if v == nil {
			return nil, ok
		}
		return &schema{values: v}, ok
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil, true // base64 or a raw message
		}
		e, ok := schemaOf(t.Elem(), open)
		if e == nil {
			return nil, ok
		}
		return &schema{elem: e}, ok
	case reflect.Struct:
		if open[t] {
			return nil, false
		}
		open[t] = true
		defer delete(open, t)
		s := &schema{fields: map[string]*schema{}}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous {
				return nil, false
			}
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch name {
			case "-":
				continue
			case "":
				name = f.Name
			}
			fs, ok := schemaOf(f.Type, open)
			if !ok {
				return nil, false
			}
			s.fields[name] = fs
		}
		return s, true
	}
	return nil, true
}
