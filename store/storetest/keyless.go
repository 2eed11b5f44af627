package storetest

// Keyless attestations' off-log data: bundles and signer identities.

import (
	"bytes"
	"slices"
	"testing"

	"github.com/vouchdev/vouch/store"
)

func keyless(payload, issuer, subject string) ent {
	e := att(slsa, payload, nil, []string{"sha256:d1"})
	e.row.Keyless = &store.Keyless{Bundle: []byte(`{"bundle":"` + payload + `","cert":"` + subject + `"}`),
		Identity: []byte(`{"issuer":"` + issuer + `","subject":"` + subject + `"}`), Issuer: issuer, Subject: subject}
	return e
}

// testKeyless checks keyless data stored by Append, the query by signer
// identity (exact, and patterns whose only wildcard is "*"), and erasure.
func testKeyless(t *testing.T, open opener) {
	f := newFixture(t, open)
	const gh, google = "https://token.actions.githubusercontent.com", "https://accounts.google.com"
	subjects := []string{
		"https://github.com/acme/widget/.github/workflows/release.yml@refs/tags/v1",
		"https://github.com/acme/gadget/.github/workflows/release.yml@refs/heads/main",
		"https://github.com/acmeco/widget/.github/workflows/release.yml@refs/tags/v1",
		"dev_1@example.com", "dev%1?[x]@example.com",
	}
	f.seq(rec("release", "acme/widget", "1.0.0", "sha256:d1"),
		keyless("sha256:p1", gh, subjects[0]), keyless("sha256:p2", gh, subjects[1]), keyless("sha256:p3", gh, subjects[2]),
		att(slsa, "sha256:p4", []string{"k1"}, []string{"sha256:d1"}))
	f.seq(keyless("sha256:p5", google, subjects[3]), keyless("sha256:p6", google, subjects[4]))
	query := func(issuer, subject string, pattern bool) []uint64 {
		t.Helper()
		rows, err := f.s.Query(ctx, &store.Query{Size: 100, Identity: &store.IdentityFilter{Issuer: issuer, Subject: subject, Pattern: pattern}})
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, r := range rows {
			out = append(out, r.Index)
		}
		return out
	}
	for _, c := range []struct {
		issuer, subject string
		pattern         bool
		want            []uint64
	}{
		{gh, subjects[0], false, []uint64{1}},
		{"", subjects[0], false, []uint64{1}},
		{google, subjects[0], false, nil},
		{gh, "https://github.com/acme/*", true, []uint64{1, 2}},
		{"", "https://github.com/acme*", true, []uint64{1, 2, 3}},
		{gh, "*@refs/tags/*", true, []uint64{1, 3}},
		{"", "*", true, []uint64{1, 2, 3, 5, 6}},
		{"", "https://github.com/acme/*", false, nil}, // not a pattern: "*" is literal
		{"", "dev_1@*", true, []uint64{5}},            // "_", "%", "?" and "[" are literal
		{"", "dev%1?[x]@*", true, []uint64{6}},
		{"", "dev?1@*", true, nil},
		{"", "DEV_1@*", true, nil}, // case-sensitive
	} {
		if got := query(c.issuer, c.subject, c.pattern); !slices.Equal(got, c.want) {
			t.Errorf("identity %q %q pattern=%v: %v, want %v", c.issuer, c.subject, c.pattern, got, c.want)
		}
	}
	got, err := f.s.KeylessOf(ctx, []uint64{0, 1, 4, 6, 99}, true)
	if err != nil || len(got) != 2 || !bytes.Equal(got[1].Bundle, f.rows[1].Keyless.Bundle) || !bytes.Equal(got[6].Identity, f.rows[6].Keyless.Identity) ||
		got[1].Issuer != gh || got[6].Subject != subjects[4] {
		t.Fatalf("KeylessOf: %+v %v", got, err)
	}
	if got, err := f.s.KeylessOf(ctx, []uint64{1}, false); err != nil || got[1].Bundle != nil || got[1].Subject != subjects[0] {
		t.Fatalf("KeylessOf without bundles: %+v %v", got, err)
	}
	// Erasing the statement erases the bundle and the identity.
	if err := f.s.DeleteStatements(ctx, []uint64{1, 5}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.KeylessOf(ctx, []uint64{1, 2, 5}, true); err != nil || len(got) != 1 || got[2] == nil {
		t.Fatalf("KeylessOf after erasure: %+v %v", got, err)
	}
	if got := query("", "*", true); !slices.Equal(got, []uint64{2, 3, 6}) {
		t.Fatalf("identity query after erasure: %v", got)
	}
}
