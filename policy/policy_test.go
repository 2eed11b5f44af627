package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/translog"
)

const (
	lab = "sha256:0000000000000000000000000000000000000000000000000000000000000003"
	qa1 = "sha256:0000000000000000000000000000000000000000000000000000000000000004"
	qa2 = "sha256:0000000000000000000000000000000000000000000000000000000000000005"
)

func evidence(status string, atts ...*client.Attestation) *client.Evidence {
	return &client.Evidence{
		Checkpoint:   &translog.Checkpoint{Size: 10, Origin: "o"},
		Release:      &api.ReleaseResponse{Release: api.Release{Package: "a", Version: "1", Status: status, Digest: "sha256:ab"}},
		Attestations: atts,
	}
}

func att(ptype string, pred map[string]any, signers ...string) *client.Attestation {
	return &client.Attestation{PredicateType: ptype, Predicate: pred, Signers: signers, Verified: true, Time: time.Now()}
}

func TestExamplePolicies(t *testing.T) {
	files, _ := filepath.Glob("../docs/policies/*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d example policies", len(files))
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	p, err := Load("../docs/policies/regulated.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fips := att(predicate.Certification, map[string]any{"program": "FIPS 140-3", "certificate": "#1"}, lab)
	ok1 := att(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa"}, qa1)
	ok2 := att(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa"}, qa2)
	no2 := att(predicate.Approval, map[string]any{"decision": "rejected", "scope": "qa"}, qa2)
	both := att(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa"}, qa1, qa2)
	for name, c := range map[string]struct {
		ev   *client.Evidence
		pass bool
	}{
		"all there":             {evidence("published", fips, ok1, ok2), true},
		"one signer twice":      {evidence("published", fips, ok1, ok1), false},
		"one rejection":         {evidence("published", fips, ok1, no2), false},
		"co-signed approval":    {evidence("published", fips, both), true},
		"no fips":               {evidence("published", ok1, ok2), false},
		"fips by the wrong key": {evidence("published", att(predicate.Certification, map[string]any{"program": "FIPS 140-3"}, qa1), ok1, ok2), false},
		"unverified statement":  {evidence("published", &client.Attestation{PredicateType: predicate.Certification, Signers: []string{lab}, Erased: true}, ok1, ok2), false},
	} {
		v := p.Evaluate(&Input{Evidence: c.ev})
		if v.Pass != c.pass {
			t.Errorf("%s: pass = %v, want %v: %+v", name, v.Pass, c.pass, v.Results)
		}
	}
	nr, _ := Load("../docs/policies/not-removed.yaml")
	if v := nr.Evaluate(&Input{Evidence: evidence("yanked")}); v.Pass || !strings.Contains(v.Results[1].Why, "yanked or removed") {
		t.Fatalf("not-removed on a yanked release: %+v", v)
	}
	if v := nr.Evaluate(&Input{Evidence: evidence("published"), ArtifactDigest: "sha256:cd"}); v.Pass || v.Results[0].Name != "artifact-digest" {
		t.Fatalf("artifact mismatch: %+v", v)
	}
}

func TestParseErrors(t *testing.T) {
	for name, src := range map[string]string{
		"bad cel":        "require:\n  - name: x\n    rule: release.status ==\n",
		"not boolean":    "require:\n  - name: x\n    rule: release.size + 1\n",
		"unknown var":    "require:\n  - name: x\n    rule: nosuch == 1\n",
		"unknown field":  "require:\n  - name: x\n    rule: true\n    severity: high\n",
		"bad key":        "keys:\n  k: [alice]\nrequire:\n  - name: x\n    rule: true\n",
		"no rules":       "keys: {}\n",
		"duplicate name": "require:\n  - name: x\n    rule: true\ndeny:\n  - name: x\n    rule: false\n",
		"unnamed":        "require:\n  - rule: true\n",
	} {
		if _, err := Parse([]byte(src)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("require:\n  - name: broken\n    rule: release.status ==\n"), 0o644)
	if _, err := Load(filepath.Join(dir, "p.yaml")); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("error does not name the rule: %v", err)
	}
	// A runtime error fails the rule with a reason, it does not crash.
	p, _ := Parse([]byte("require:\n  - name: r\n    rule: attestations[0].fields.x == 1\n"))
	v := p.Evaluate(&Input{Evidence: evidence("published")})
	if v.Pass || !strings.Contains(v.Results[0].Why, "could not be evaluated") {
		t.Fatalf("runtime error: %+v", v)
	}
}

// TestBudget: a server evaluating a visitor's policy charges every rule's
// CEL cost to one budget; once spent, the rule that spent it and the rules
// after it fail with a reason that says so, and the verdict is FAIL.
func TestBudget(t *testing.T) {
	p, err := Parse([]byte(`
require:
  - name: published
    rule: release.status == "published"
  - name: expensive
    rule: attestations.all(a, attestations.all(b, a.signers.size() + b.signers.size() >= 0))
  - name: after
    rule: true
`))
	if err != nil {
		t.Fatal(err)
	}
	var atts []*client.Attestation
	for range 150 {
		atts = append(atts, att(predicate.Approval, map[string]any{"decision": "approved"}, qa1))
	}
	in := &Input{Evidence: evidence("published", atts...)}
	// Without a budget (vouch verify) the rule is within RuleCostLimit.
	if v := p.Evaluate(in); !v.Pass {
		t.Fatalf("without a budget: %+v", v)
	}
	b := NewBudget(50_000)
	v, err := p.EvaluateContext(context.Background(), in, b)
	var be *BudgetError
	if !errors.As(err, &be) || be.Rule != "expensive" || v.Pass || b.Left() != 0 {
		t.Fatalf("over budget: err %v, left %d, verdict %+v", err, b.Left(), v)
	}
	if !v.Results[0].Pass || v.Results[1].Pass || !strings.Contains(v.Results[1].Why, "spent this evaluation's budget") ||
		v.Results[2].Pass || !strings.Contains(v.Results[2].Why, "stopped before this rule") {
		t.Fatalf("results: %+v", v.Results)
	}
	// A cheap policy passes under the same budget, and is charged for it.
	b = NewBudget(ServerBudget)
	cheap, _ := Parse([]byte("require:\n  - name: published\n    rule: release.status == \"published\"\n"))
	if v, err := cheap.EvaluateContext(context.Background(), in, b); err != nil || !v.Pass || b.Left() == ServerBudget {
		t.Fatalf("cheap policy: %v %+v, left %d", err, v, b.Left())
	}
	// A cancelled request stops the evaluation.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if v, err := p.EvaluateContext(ctx, in, NewBudget(ServerBudget)); !errors.Is(err, context.Canceled) || v.Pass {
		t.Fatalf("cancelled: %v %+v", err, v)
	}
}
