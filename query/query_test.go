package query

import (
	"strings"
	"testing"
	"time"
)

func TestCompileAndMatch(t *testing.T) {
	vars := map[string]any{
		"index": 7, "time": time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), "kind": "attestation", "type": "attestation",
		"package": "", "version": "", "signers": []string{"sha256:aa"}, "subjects": []string{"sha256:bb"},
		"predicateType": "https://slsa.dev/provenance/v1", "states": []string{"published"},
		"predicate": map[string]any{"runDetails": map[string]any{"builder": map[string]any{"id": "https://ci.example/b"}}},
		"fields":    map[string]any{"builder": "https://ci.example/b"}, "erased": false,
	}
	for expr, want := range map[string]bool{
		`fields.builder == "https://ci.example/b"`:                          true,
		`predicate.runDetails.builder.id.startsWith("https://ci.example/")`: true,
		`"sha256:aa" in signers && index > 5`:                               true,
		`time > timestamp("2027-01-01T00:00:00Z")`:                          false,
		`fields.missing == "x"`:                                             false, // an error is a non-match
		`"published" in states && kind == "attestation"`:                    true,
	} {
		f, err := Compile(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := f.Match(vars); got != want {
			t.Errorf("%s = %v, want %v", expr, got, want)
		}
	}
	f, _ := Compile(`fields.builder == "x"`)
	if !f.UsesBody {
		t.Error("UsesBody not detected")
	}
	f, _ = Compile(`index > 1`)
	if f.UsesBody {
		t.Error("UsesBody wrongly detected")
	}
	for _, bad := range []string{`index +`, `index + 1`, `nosuchvar == 1`, `kind == 1`, strings.Repeat("a", MaxExprLen+1)} {
		_, err := Compile(bad)
		var ce *CompileError
		if err == nil || !asCompile(err, &ce) {
			t.Errorf("Compile(%.40q) = %v", bad, err)
		}
	}
}

func asCompile(err error, ce **CompileError) bool {
	c, ok := err.(*CompileError)
	*ce = c
	return ok
}

func FuzzCompile(f *testing.F) {
	f.Add(`fields.builder == "x" && index > 3`)
	f.Add(`predicate.a.b.c.exists(x, x == 1)`)
	f.Fuzz(func(t *testing.T, expr string) {
		fl, err := Compile(expr)
		if err != nil {
			return
		}
		fl.Match(map[string]any{"index": 1, "kind": "record", "signers": []string{}, "subjects": []string{}, "states": []string{},
			"predicate": map[string]any{}, "fields": map[string]any{}, "erased": false, "time": time.Unix(0, 0),
			"type": "", "package": "", "version": "", "predicateType": ""})
	})
}
