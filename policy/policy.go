// Package policy evaluates verification policies: a YAML file of named CEL
// rules (cel.dev/cel-go) over the verified evidence about a release. "require"
// rules must hold; "deny" rules must not. Named key sets make "signed by a
// trusted key" easy to write, and named identity sets "signed keyless by a
// trusted identity" (a CI workflow, a person at an OIDC provider):
// trusted(i, "set").
//
// Example:
//
//	keys:
//	  owners: [sha256:1fa3…]
//	require:
//	  - name: published
//	    rule: release.status == "published"
//	  - name: owner-signed
//	    rule: release.signers.exists(k, k in keys.owners)
//	deny:
//	  - name: yanked-or-removed
//	    rule: release.status in ["yanked", "deleted", "tombstoned", "banished"]
//
// The variables are documented in docs/policies.md.
package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
	"go.yaml.in/yaml/v3"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/keys"
)

// Rule is one named rule.
type Rule struct {
	Name    string `yaml:"name"`
	Rule    string `yaml:"rule"`
	Message string `yaml:"message,omitempty"`
	prg     cel.Program
	ast     *cel.Ast
}

// Policy is a parsed, compiled policy.
type Policy struct {
	Keys map[string][]string `yaml:"keys"`
	// Identities are named sets of trusted keyless signers. Each is a
	// list of patterns: issuer and subject (required), and optionally any
	// certificate extension by its Fulcio name (sourceRepositoryURI,
	// sourceRepositoryRef...); every field must match, "*" standing for
	// any run of characters. Rules test them with trusted(i, "name").
	Identities map[string][]map[string]string `yaml:"identities"`
	Require    []*Rule                        `yaml:"require"`
	Deny       []*Rule                        `yaml:"deny"`
	celEnv     *cel.Env
}

// Default is the policy used when none is given: the release is published.
const Default = `
require:
  - name: published
    rule: release.status == "published"
    message: the release must be published (not staged, yanked or removed)
`

func (p *Policy) env() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("release", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("attestations", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("artifact", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("keys", cel.MapType(cel.StringType, cel.ListType(cel.StringType))),
		cel.Variable("checkpoint", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType),
		// trusted(identity, "set") reports whether a keyless signer (an
		// element of a.identities) matches a pattern of the policy's
		// identity set.
		cel.Function("trusted", cel.Overload("trusted_identity_set", []*cel.Type{cel.DynType, cel.StringType}, cel.BoolType,
			cel.BinaryBinding(p.trusted))),
	)
}

// trusted implements the CEL function trusted(identity, set).
func (p *Policy) trusted(id, set ref.Val) ref.Val {
	name, ok := set.Value().(string)
	if !ok {
		return types.NewErr("trusted: the identity set's name must be a string")
	}
	pats, ok := p.Identities[name]
	if !ok {
		return types.NewErr("trusted: the policy has no identity set %q", name)
	}
	m, ok := id.(traits.Mapper)
	if !ok {
		return types.NewErr("trusted: %v is not an identity", id.Type())
	}
	field := func(k string) (string, bool) {
		v, found := m.Find(types.String(k))
		if !found {
			return "", false
		}
		s, ok := v.Value().(string)
		return s, ok
	}
	for _, pat := range pats {
		all := true
		for k, want := range pat {
			got, ok := field(k)
			if !ok || !Match(want, got) {
				all = false
				break
			}
		}
		if all {
			return types.True
		}
	}
	return types.False
}

// Match reports whether s matches pattern, where "*" stands for any run of
// characters (possibly empty) and every other character for itself.
func Match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return s == pattern
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// Load reads and compiles a policy file.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse parses and compiles a policy; every rule must compile to a boolean.
func Parse(b []byte) (*Policy, error) {
	var p Policy
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&p); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if len(p.Require)+len(p.Deny) == 0 {
		return nil, errors.New("policy has no rules (require: or deny:)")
	}
	for name, ks := range p.Keys {
		for _, k := range ks {
			if !keys.ValidID(k) {
				return nil, fmt.Errorf("policy: keys.%s: %q is not a key ID", name, k)
			}
		}
	}
	for name, ids := range p.Identities {
		for i, id := range ids {
			if id["issuer"] == "" || id["subject"] == "" {
				return nil, fmt.Errorf("policy: identities.%s[%d]: an identity needs an issuer and a subject (\"*\" matches any run of characters)", name, i)
			}
		}
	}
	e, err := p.env()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range append(append([]*Rule{}, p.Require...), p.Deny...) {
		if r.Name == "" || r.Rule == "" {
			return nil, errors.New("policy: every rule needs a name and a rule")
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("policy: two rules are named %q", r.Name)
		}
		seen[r.Name] = true
		ast, iss := e.Compile(r.Rule)
		if iss.Err() != nil {
			return nil, fmt.Errorf("policy rule %q: %w", r.Name, iss.Err())
		}
		if ast.OutputType() != cel.BoolType {
			return nil, fmt.Errorf("policy rule %q must be boolean, not %s", r.Name, ast.OutputType())
		}
		r.ast = ast
		if r.prg, err = program(e, ast, RuleCostLimit); err != nil {
			return nil, fmt.Errorf("policy rule %q: %w", r.Name, err)
		}
	}
	p.celEnv = e
	if p.Keys == nil {
		p.Keys = map[string][]string{}
	}
	return &p, nil
}

// Result is the outcome of one rule.
type Result struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "require", "deny" or "check"
	Pass bool   `json:"pass"`
	Why  string `json:"why"`
}

// Verdict is the outcome of a whole verification.
type Verdict struct {
	Pass    bool     `json:"pass"`
	Results []Result `json:"results"`
}

// Input is what a policy is evaluated over.
type Input struct {
	Evidence *client.Evidence
	// ArtifactDigest is the digest of the file the user has, if given.
	ArtifactDigest string
}

// vars builds the CEL variables from the evidence.
func (p *Policy) vars(in *Input) map[string]any {
	ev := in.Evidence
	r := ev.Release
	var signers []string
	var history []any
	for _, rec := range ev.Records {
		history = append(history, map[string]any{"index": int64(rec.Index), "action": rec.Type, "role": rec.Role, "signers": rec.Signers})
		if rec.Type == "release" {
			signers = append(signers, rec.Signers...)
		}
	}
	rel := map[string]any{
		"package": r.Package, "version": r.Version, "status": r.Status, "digest": r.Digest, "digests": nonNil(r.Digests), "size": r.Size,
		"mediaType": r.MediaType, "url": r.URL, "yankedBy": r.YankedBy, "reason": r.Reason,
		"signers": nonNil(signers), "owners": nonNil(ev.Owners), "history": nonNil(history),
	}
	if r.PublishedAt != nil {
		rel["publishedAt"] = *r.PublishedAt
	}
	var atts []map[string]any
	for _, a := range ev.Attestations {
		f := a.Fields()
		if f == nil {
			f = map[string]any{}
		}
		pr := a.Predicate
		if pr == nil {
			pr = map[string]any{}
		}
		ids := make([]any, len(a.Identities))
		for i := range a.Identities {
			m := map[string]any{}
			for k, v := range a.Identities[i].Vars() {
				m[k] = v
			}
			ids[i] = m
		}
		atts = append(atts, map[string]any{"index": int64(a.Index), "time": a.Time, "predicateType": a.PredicateType,
			"signers": nonNil(a.Signers), "subjects": nonNil(a.Subjects), "predicate": pr, "fields": f,
			"verified": a.Verified, "erased": a.Erased, "keyless": a.Keyless, "identities": ids})
	}
	art := map[string]any{"given": in.ArtifactDigest != "", "digest": in.ArtifactDigest, "matches": in.ArtifactDigest == r.Digest}
	return map[string]any{"release": rel, "attestations": nonNil(atts), "artifact": art, "keys": p.Keys,
		"checkpoint": map[string]any{"size": int64(ev.Checkpoint.Size), "origin": ev.Checkpoint.Origin}, "now": time.Now()}
}

// nonNil returns s, or an empty list for nil (CEL sees a list either way).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Evaluate evaluates every rule. The verdict passes only if every require
// rule holds, no deny rule holds, and a given artifact matches the release's
// digest. Each rule may cost up to RuleCostLimit.
func (p *Policy) Evaluate(in *Input) *Verdict {
	v, _ := p.EvaluateContext(context.Background(), in, nil)
	return v
}

// EvaluateContext evaluates like Evaluate, but charges the CEL cost of every
// rule to b (nil: no budget beyond RuleCostLimit per rule) and stops when
// ctx ends. Once b is spent, the rule that spent it and every rule after it
// fail with the reason, and the error is a *BudgetError (or ctx's error):
// the verdict is then FAIL, since not every rule could be checked.
func (p *Policy) EvaluateContext(ctx context.Context, in *Input, b *Budget) (*Verdict, error) {
	v := &Verdict{Pass: true}
	var stop error
	eval := func(r *Rule, vars map[string]any) (bool, error) {
		if stop != nil {
			return false, errNotEvaluated{stop}
		}
		ok, err := p.eval(ctx, r, vars, b)
		var be *BudgetError
		if errors.As(err, &be) || ctx.Err() != nil {
			stop = err
		}
		return ok, err
	}
	vars := p.vars(in)
	if in.ArtifactDigest != "" {
		r := Result{Name: "artifact-digest", Kind: "check", Pass: in.ArtifactDigest == in.Evidence.Release.Digest}
		if r.Pass {
			r.Why = "the file's digest is the release's " + in.ArtifactDigest
		} else {
			r.Why = fmt.Sprintf("the file's digest is %s, the release's is %s", in.ArtifactDigest, in.Evidence.Release.Digest)
		}
		v.add(r)
	}
	for _, r := range p.Require {
		ok, err := eval(r, vars)
		res := Result{Name: r.Name, Kind: "require", Pass: ok && err == nil}
		switch {
		case err != nil:
			res.Why = "could not be evaluated: " + err.Error()
		case ok:
			res.Why = "holds: " + r.Rule
		default:
			res.Why = "does not hold: " + r.Rule
			if r.Message != "" {
				res.Why = r.Message + " (" + res.Why + ")"
			}
		}
		v.add(res)
	}
	for _, r := range p.Deny {
		hit, err := eval(r, vars)
		res := Result{Name: r.Name, Kind: "deny", Pass: !hit && err == nil}
		switch {
		case err != nil:
			res.Why = "could not be evaluated: " + err.Error()
		case hit:
			res.Why = "denied: " + r.Rule
			if r.Message != "" {
				res.Why = r.Message + " (" + res.Why + ")"
			}
		default:
			res.Why = "not triggered: " + r.Rule
		}
		v.add(res)
	}
	return v, stop
}

func (v *Verdict) add(r Result) {
	v.Results = append(v.Results, r)
	v.Pass = v.Pass && r.Pass
}

// eval evaluates one rule, charging its cost to b if not nil.
func (p *Policy) eval(ctx context.Context, r *Rule, vars map[string]any, b *Budget) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	prg, limited := r.prg, false
	if b != nil {
		if b.left == 0 {
			return false, &BudgetError{Limit: b.limit, Rule: r.Name}
		}
		if b.left < RuleCostLimit {
			// The rule may spend only what the request has left.
			var err error
			if prg, err = program(p.celEnv, r.ast, b.left); err != nil {
				return false, err
			}
			limited = true
		}
	}
	out, det, err := prg.ContextEval(ctx, vars)
	if b != nil && det != nil && det.ActualCost() != nil {
		b.left -= min(b.left, *det.ActualCost())
	}
	if err != nil {
		var ce interpreter.EvalCancelledError
		switch {
		case errors.As(err, &ce) && ce.Cause == interpreter.CostLimitExceeded && limited:
			b.left = 0
			return false, &BudgetError{Limit: b.limit, Rule: r.Name}
		case ctx.Err() != nil:
			return false, ctx.Err()
		}
		return false, err
	}
	res, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("result is %T, not a boolean", out.Value())
	}
	return res, nil
}
