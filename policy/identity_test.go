package policy

import (
	"strings"
	"testing"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/predicate"
)

func keyless(ptype string, verified bool, ids ...api.CertIdentity) *client.Attestation {
	a := att(ptype, map[string]any{})
	a.Keyless, a.Identities, a.Verified = true, ids, verified
	return a
}

// TestTrustedIdentities checks named identity sets and trusted(i, set).
func TestTrustedIdentities(t *testing.T) {
	p, err := Load("../docs/policies/keyless-provenance.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gh := "https://token.actions.githubusercontent.com"
	release := api.CertIdentity{Issuer: gh, Subject: "https://github.com/acme/widget/.github/workflows/release.yml@refs/tags/v1.0.0",
		Extensions: map[string]string{"sourceRepositoryURI": "https://github.com/acme/widget"}}
	fork := release
	fork.Extensions = map[string]string{"sourceRepositoryURI": "https://github.com/mallory/widget"}
	branch := release
	branch.Subject = "https://github.com/acme/widget/.github/workflows/release.yml@refs/heads/main"
	person := api.CertIdentity{Issuer: "https://accounts.google.com", Subject: "dev@example.com"}
	for name, c := range map[string]struct {
		ev   *client.Evidence
		pass bool
	}{
		"release workflow":     {evidence("published", keyless(predicate.SLSAProvenanceV1, true, release)), true},
		"not verified":         {evidence("published", keyless(predicate.SLSAProvenanceV1, false, release)), false},
		"another repository":   {evidence("published", keyless(predicate.SLSAProvenanceV1, true, fork)), false},
		"a branch, not a tag":  {evidence("published", keyless(predicate.SLSAProvenanceV1, true, branch)), false},
		"a person":             {evidence("published", keyless(predicate.SLSAProvenanceV1, true, person)), false},
		"another predicate":    {evidence("published", keyless(predicate.Approval, true, release)), false},
		"signed by a key only": {evidence("published", att(predicate.SLSAProvenanceV1, map[string]any{}, lab)), false},
	} {
		if v := p.Evaluate(&Input{Evidence: c.ev}); v.Pass != c.pass {
			t.Errorf("%s: pass = %v, want %v: %+v", name, v.Pass, c.pass, v.Results)
		}
	}
	// Identities are plain CEL too.
	q, err := Parse([]byte(`require:
  - name: by-acme
    rule: attestations.exists(a, a.keyless && a.identities.exists(i, i.issuer == "` + gh + `" && i.subject.startsWith("https://github.com/acme/")))
  - name: unknown-set
    rule: attestations.exists(a, a.identities.exists(i, trusted(i, "nope")))
`))
	if err != nil {
		t.Fatal(err)
	}
	v := q.Evaluate(&Input{Evidence: evidence("published", keyless(predicate.SLSAProvenanceV1, true, release))})
	if !v.Results[0].Pass || v.Results[1].Pass || !strings.Contains(v.Results[1].Why, `no identity set "nope"`) {
		t.Fatalf("plain CEL over identities: %+v", v.Results)
	}
	if _, err := Parse([]byte("identities:\n  ci:\n    - subject: x\nrequire:\n  - name: r\n    rule: true\n")); err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Fatalf("identity without an issuer: %v", err)
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"a", "a", true}, {"a", "ab", false}, {"*", "", true}, {"*", "anything", true},
		{"https://github.com/acme/*", "https://github.com/acme/widget", true},
		{"https://github.com/acme/*", "https://github.com/acmeco/widget", false},
		{"*@refs/tags/v*", "x@refs/tags/v1", true}, {"*@refs/tags/v*", "x@refs/heads/main", false},
		{"a*b*c", "abc", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "acb", false}, {"ab*ba", "aba", false},
		{"a?b", "aXb", false}, {"a?b", "a?b", true},
	} {
		if got := Match(c.pattern, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}
