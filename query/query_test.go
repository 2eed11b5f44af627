package query

import (
	"context"
	"errors"
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
		got, err := f.Match(context.Background(), NewBudget(RequestBudget), vars)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got != want {
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
		fl.Match(context.Background(), NewBudget(RequestBudget), map[string]any{"index": 1, "kind": "record", "signers": []string{}, "subjects": []string{}, "states": []string{},
			"predicate": map[string]any{}, "fields": map[string]any{}, "erased": false, "time": time.Unix(0, 0),
			"type": "", "package": "", "version": "", "predicateType": ""})
	})
}

// expensiveVars gives an expression something to chew on: a predicate with
// a list of n numbers.
func expensiveVars(n int) map[string]any {
	items := make([]any, n)
	for i := range items {
		items[i] = i
	}
	return map[string]any{"index": 1, "kind": "record", "signers": []string{}, "subjects": []string{}, "states": []string{},
		"predicate": map[string]any{"items": items}, "fields": map[string]any{}, "erased": false, "time": time.Unix(0, 0),
		"type": "", "package": "", "version": "", "predicateType": ""}
}

// TestBudgetPerEntry: one entry whose evaluation costs more than
// EntryCostLimit stops the request with a BudgetError.
func TestBudgetPerEntry(t *testing.T) {
	f, err := Compile(`predicate.items.all(x, predicate.items.all(y, x != y || x == y))`)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBudget(RequestBudget)
	start := time.Now()
	_, err = f.Match(context.Background(), b, expensiveVars(3000))
	var be *BudgetError
	if !errors.As(err, &be) || !be.Entry {
		t.Fatalf("Match = %v, want a per-entry BudgetError", err)
	}
	if b.Left() != 0 {
		t.Fatalf("budget left after an entry over the limit: %d", b.Left())
	}
	t.Logf("stopped after %v", time.Since(start))
}

// TestBudgetPerRequest: entries that each stay under the per-entry limit
// still stop once their sum spends the request's budget, and every later
// call fails at once.
func TestBudgetPerRequest(t *testing.T) {
	f, err := Compile(`predicate.items.all(x, predicate.items.all(y, x != y || x == y))`)
	if err != nil {
		t.Fatal(err)
	}
	vars := expensiveVars(100) // about 100*100*4 units each
	b := NewBudget(RequestBudget)
	spent := 0
	for ; spent < 10_000; spent++ {
		_, err = f.Match(context.Background(), b, vars)
		if err != nil {
			break
		}
	}
	var be *BudgetError
	if !errors.As(err, &be) || be.Entry {
		t.Fatalf("after %d entries: Match = %v, want a per-request BudgetError", spent, err)
	}
	if spent == 0 || spent > RequestBudget/(100*100) {
		t.Fatalf("the budget stopped the request after %d entries", spent)
	}
	if _, err := f.Match(context.Background(), b, vars); !errors.As(err, &be) {
		t.Fatalf("a spent budget allowed another evaluation: %v", err)
	}
}

// TestMatchStopsWhenTheClientLeaves: a cancelled context interrupts an
// evaluation in progress.
func TestMatchStopsWhenTheClientLeaves(t *testing.T) {
	f, err := Compile(`predicate.items.all(x, predicate.items.all(y, x != y || x == y))`)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = f.Match(ctx, NewBudget(1<<62), expensiveVars(240)) // just under the per-entry limit
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Match = %v, want the context's error", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("the evaluation went on for %v after its context ended", d)
	}
}
