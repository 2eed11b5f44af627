package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceCheck is a slow, obviously correct duplicate-key and depth check
// over encoding/json's token stream, to test checkJSON against.
func referenceCheck(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("utf8")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	var walk func(depth int) error
	walk = func(depth int) error {
		t, err := d.Token()
		if err != nil {
			return err
		}
		delim, ok := t.(json.Delim)
		if !ok {
			return nil
		}
		if depth >= maxJSONDepth {
			return fmt.Errorf("deep")
		}
		seen := map[string]bool{}
		for d.More() {
			if delim == '{' {
				k, err := d.Token()
				if err != nil {
					return err
				}
				if seen[k.(string)] {
					return fmt.Errorf("dup")
				}
				seen[k.(string)] = true
			}
			if err := walk(depth + 1); err != nil {
				return err
			}
		}
		_, err = d.Token()
		return err
	}
	if err := walk(0); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("trailing")
	}
	return nil
}

func TestCheckJSON(t *testing.T) {
	for doc, ok := range map[string]bool{
		`{"a":1,"b":{"a":2}}`:                      true,
		`{"a":1,"a":2}`:                            false,
		`{"a":1,"\u0061":2}`:                       false,
		`{"a\"b":1,"a\"b":2}`:                      false,
		`{"a":"{\"a\":1,\"a\":1}"}`:                true,
		`[{"a":1},{"a":1}]`:                        true,
		`{"x":[{"a":1,"b":[1,2,{"c":{}}]}],"y":1}`: true,
		`{"x":[{"a":1,"a":[1]}]}`:                  false,
		`{} {}`:                                    false,
		`{"a":}`:                                   false,
		strings.Repeat("[", 33) + strings.Repeat("]", 33): false,
		strings.Repeat("[", 32) + strings.Repeat("]", 32): true,
		"\"\xff\"": false,
	} {
		if err := checkJSON([]byte(doc)); (err == nil) != ok {
			t.Errorf("checkJSON(%.40q) = %v, want ok=%v", doc, err, ok)
		}
	}
}

// FuzzCheckJSON compares checkJSON with the reference on arbitrary input.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":[{"b":1},{"b":2}]}`, `[[[[]]]]`, `{"\u0061":1,"a":2}`, `"x"`, `{"a":{"b":{"b":1}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := checkJSON(b), referenceCheck(b)
		if (got == nil) != (want == nil) {
			t.Fatalf("checkJSON(%q) = %v, reference says %v", b, got, want)
		}
	})
}

// strictShape is a type with every kind of field the schema describes.
type strictShape struct {
	Name  string                 `json:"name"`
	Inner *strictInner           `json:"inner,omitempty"`
	List  []strictInner          `json:"list,omitempty"`
	Map   map[string]any         `json:"map,omitempty"`
	Raw   json.RawMessage        `json:"raw,omitempty"`
	Bytes []byte                 `json:"bytes,omitempty"`
	Deep  [][]strictInner        `json:"deep,omitempty"`
	Tags  map[string]string      `json:"tags,omitempty"`
	Named map[string]strictInner `json:"named,omitempty"`
	Skip  string                 `json:"-"`
}

type strictInner struct {
	A int    `json:"a"`
	B string `json:"b,omitempty"`
}

// TestUnmarshalStrictUnknownFields: unknown fields are refused at every
// depth a struct reaches, and not inside maps or raw messages, as the
// Decoder with DisallowUnknownFields would; names must match exactly.
func TestUnmarshalStrictUnknownFields(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want string // "" for success
	}{
		{`{"name":"x"}`, ""},
		{`{"name":"x","extra":1}`, `unknown field "extra"`},
		{`{"inner":{"a":1,"c":2}}`, `unknown field "c"`},
		{`{"list":[{"a":1},{"a":2,"zz":3}]}`, `unknown field "zz"`},
		{`{"list":[{"a":1},{"b":"y"}]}`, ""},
		{`{"deep":[[{"a":1}],[{"a":1,"q":1}]]}`, `unknown field "q"`},
		{`{"map":{"anything":{"goes":[1,{"x":2}]}},"raw":{"free":true},"tags":{"t":"v"}}`, ""},
		{`{"raw":[{"free":1}],"inner":{"a":1},"list":[]}`, ""},
		{`{"Name":"x"}`, `unknown field "Name"`},
		{`{"Skip":"x"}`, `unknown field "Skip"`},
		{`{"inner":"not an object"}`, "cannot unmarshal"},
		{`{"list":{"a":1}}`, "cannot unmarshal"},
		{`{"inner":{"a":1},"inner2":1}`, `unknown field "inner2"`},
		{`{"map":{"k":1},"x":1}`, `unknown field "x"`},
		{`{"named":{"any key":{"a":1},"other":{"b":"c"}}}`, ""},
		{`{"named":{"k":{"a":1,"nope":2}}}`, `unknown field "nope"`},
		{`{"named":[{"a":1}]}`, "cannot unmarshal"},
	} {
		var v strictShape
		err := unmarshalStrict([]byte(tc.doc), &v)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: got %v, want %q", tc.doc, err, tc.want)
		}
		// The Decoder agrees on what is refused (it is laxer about
		// letter case only).
		d := json.NewDecoder(strings.NewReader(tc.doc))
		d.DisallowUnknownFields()
		var w strictShape
		if derr := d.Decode(&w); (derr == nil) != (err == nil) && !strings.Contains(tc.doc, `"Name"`) && !strings.Contains(tc.doc, `"Skip"`) {
			t.Errorf("%s: unmarshalStrict says %v, the Decoder %v", tc.doc, err, derr)
		}
	}
}

// FuzzUnmarshalStrict: whatever unmarshalStrict accepts, the strict
// Decoder accepts too and decodes to the same value.
func FuzzUnmarshalStrict(f *testing.F) {
	f.Add(`{"name":"x","inner":{"a":1},"list":[{"a":2}],"map":{"k":[1]},"deep":[[{"b":"c"}]]}`)
	f.Add(`{"list":[{"a":1},{"zz":1}]}`)
	f.Add(`{"named":{"k":{"a":1},"j":{"b":"x"}},"tags":{"t":"v"}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var v strictShape
		if err := unmarshalStrict([]byte(doc), &v); err != nil {
			return
		}
		d := json.NewDecoder(strings.NewReader(doc))
		d.DisallowUnknownFields()
		var w strictShape
		if err := d.Decode(&w); err != nil {
			t.Fatalf("unmarshalStrict accepted %q, the Decoder refused it: %v", doc, err)
		}
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(w)
		if !bytes.Equal(a, b) {
			t.Fatalf("%q decodes to %s and %s", doc, a, b)
		}
	})
}
