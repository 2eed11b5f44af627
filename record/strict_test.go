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
