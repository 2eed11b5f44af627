package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/internal/testreg"
)

// run executes the CLI in-process with args and returns stdout.
func run(t *testing.T, env *testreg.Env, home string, args ...string) (string, error) {
	t.Helper()
	t.Setenv("VOUCH_HOME", home)
	t.Setenv("VOUCH_REGISTRY", env.URL)
	t.Setenv("VOUCH_LOG_KEY", filepath.Join(env.Dir, "log.vkey"))
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func mustRun(t *testing.T, env *testreg.Env, home string, args ...string) string {
	t.Helper()
	out, err := run(t, env, home, args...)
	if err != nil {
		t.Fatalf("vouch %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TestWalkthrough runs the README's first steps through the CLI.
func TestWalkthrough(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	home, dir := t.TempDir(), t.TempDir()
	alice := filepath.Join(dir, "alice.key")
	bob := filepath.Join(dir, "bob.key")
	aliceID := strings.TrimSpace(mustRun(t, env, home, "key", "generate", "--out", alice))
	bobID := strings.TrimSpace(mustRun(t, env, home, "key", "generate", "--out", bob, "--type", "ecdsa-p256"))
	if st, _ := os.Stat(alice); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	if got := strings.TrimSpace(mustRun(t, env, home, "key", "id", alice+".pub")); got != aliceID {
		t.Fatalf("key id = %q, want %q", got, aliceID)
	}
	mustRun(t, env, home, "identity", "register", "--key", alice)
	mustRun(t, env, home, "identity", "register", "--key", bob)
	if _, err := run(t, env, home, "identity", "register", "--key", bob); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second registration: %v", err)
	}
	out := mustRun(t, env, home, "--json", "package", "create", "Acme/Widget", "--key", alice, "--owner", bobID)
	var rc receiptJSON
	if err := json.Unmarshal([]byte(out), &rc); err != nil || rc.Package != "acme/widget" || rc.Proof == "" {
		t.Fatalf("package create --json: %s", out)
	}
	if _, err := run(t, env, home, "package", "create", "acme/widget", "--key", bob); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second create: %v", err)
	}
	if _, err := run(t, env, home, "package", "create", "acme/../etc", "--key", bob); err == nil {
		t.Fatal("accepted a path trick in a name")
	}
	out = mustRun(t, env, home, "log", "checkpoint")
	if !strings.Contains(out, "size   4") {
		t.Fatalf("log checkpoint:\n%s", out)
	}
	out = mustRun(t, env, home, "log", "entry", "3")
	if !strings.Contains(out, "record create") || !strings.Contains(out, aliceID) {
		t.Fatalf("log entry:\n%s", out)
	}
	out = mustRun(t, env, home, "log", "verify")
	if !strings.Contains(out, "ok: the log at size 4") {
		t.Fatalf("log verify:\n%s", out)
	}
	// Without a trusted log key the client refuses to run.
	t.Setenv("VOUCH_LOG_KEY", "")
	var o, e bytes.Buffer
	root := newRoot(&o, &e)
	root.SetArgs([]string{"log", "checkpoint", "--log-key", ""})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "no trusted log key") {
		t.Fatalf("no log key: %v", err)
	}
}

// TestReleaseWalkthrough publishes, shows, fetches, yanks and deletes
// through the CLI, then has the operator banish and audits the log.
func TestReleaseWalkthrough(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	home, dir := t.TempDir(), t.TempDir()
	alice := filepath.Join(dir, "alice.key")
	mustRun(t, env, home, "key", "generate", "--out", alice)
	mustRun(t, env, home, "identity", "register", "--key", alice)
	mustRun(t, env, home, "package", "create", "acme/widget", "--key", alice)
	art := filepath.Join(dir, "widget-1.0.tgz")
	os.WriteFile(art, []byte("the widget, version 1.0.0"), 0o644)
	mustRun(t, env, home, "publish", "acme/widget@1.0.0", art, "--key", alice)
	mustRun(t, env, home, "publish", "acme/widget@1.1.0-rc.1", art, "--staged", "--key", alice)
	out := mustRun(t, env, home, "show", "acme/widget")
	if !strings.Contains(out, "latest 1.0.0") || strings.Contains(out, "1.1.0-rc.1") {
		t.Fatalf("show:\n%s", out)
	}
	out = mustRun(t, env, home, "show", "acme/widget", "--include", "staged")
	if !strings.Contains(out, "1.1.0-rc.1") {
		t.Fatalf("show --include staged:\n%s", out)
	}
	got := filepath.Join(dir, "fetched.tgz")
	mustRun(t, env, home, "fetch", "acme/widget@1.0.0", "-o", got)
	if b, _ := os.ReadFile(got); string(b) != "the widget, version 1.0.0" {
		t.Fatalf("fetched %q", b)
	}
	mustRun(t, env, home, "promote", "acme/widget@1.1.0-rc.1", "--key", alice)
	mustRun(t, env, home, "yank", "acme/widget@1.0.0", "--reason", "security", "--note", "CVE-2026-1", "--key", alice)
	out = mustRun(t, env, home, "show", "acme/widget@1.0.0")
	if !strings.Contains(out, "yanked (security)") || !strings.Contains(out, "CVE-2026-1") {
		t.Fatalf("show yanked:\n%s", out)
	}
	mustRun(t, env, home, "delete", "acme/widget@1.1.0-rc.1", "--key", alice)
	if _, err := run(t, env, home, "fetch", "acme/widget@1.1.0-rc.1", "-o", got+"2"); err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("fetch of a deleted release: %v", err)
	}
	op := filepath.Join(env.Dir, "operator.key")
	if _, err := run(t, env, home, "admin", "banish", "acme/widget@1.0.0", "--key", alice); err == nil {
		t.Fatal("an owner banished")
	}
	mustRun(t, env, home, "admin", "banish", "acme/widget@1.0.0", "--reason", "legal", "--key", op)
	out = mustRun(t, env, home, "show", "acme/widget@1.0.0", "--at", "6")
	if !strings.Contains(out, "published") {
		t.Fatalf("show --at 6:\n%s", out)
	}
	out = mustRun(t, env, home, "audit")
	if !strings.Contains(out, "ok: the registry's answers for all 1 packages match") {
		t.Fatalf("audit:\n%s", out)
	}
	out = mustRun(t, env, home, "audit")
	if !strings.Contains(out, "replayed entries 9 to 9") {
		t.Fatalf("second audit did not resume:\n%s", out)
	}
}

// TestVerifyWalkthrough is the README's attestation walkthrough: a release
// gets provenance, QA approval by two of three keys and a FIPS statement;
// vouch verify passes with the regulated policy, then fails once the release
// is yanked.
func TestVerifyWalkthrough(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	home, dir := t.TempDir(), t.TempDir()
	key := func(name string) (string, string) {
		f := filepath.Join(dir, name+".key")
		id := strings.TrimSpace(mustRun(t, env, home, "key", "generate", "--out", f))
		mustRun(t, env, home, "identity", "register", "--key", f)
		return f, id
	}
	alice, aliceID := key("alice")
	builder, builderID := key("builder")
	lab, labID := key("lab")
	qa1, qa1ID := key("qa1")
	_, qa2ID := key("qa2")
	qa3, qa3ID := key("qa3")
	mustRun(t, env, home, "package", "create", "acme/widget", "--key", alice)
	art := filepath.Join(dir, "widget.tgz")
	os.WriteFile(art, []byte("widget 1.0.0"), 0o644)
	mustRun(t, env, home, "publish", "acme/widget@1.0.0", art, "--key", alice)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	prov := write("prov.json", `{"buildDefinition":{"buildType":"https://example.com/make/v1","externalParameters":{}},"runDetails":{"builder":{"id":"https://ci.example.com/builder"}}}`)
	mustRun(t, env, home, "attest", "acme/widget@1.0.0", "--predicate-type", "https://slsa.dev/provenance/v1", "--predicate", prov, "--key", builder)
	qa := write("qa.json", `{"decision":"approved","scope":"qa"}`)
	mustRun(t, env, home, "attest", "acme/widget@1.0.0", "--predicate-type", "https://vouch.dev/attestations/approval/v1", "--predicate", qa, "--key", qa1, "--key", qa3)
	fips := write("fips.json", `{"program":"FIPS 140-3","certificate":"#4711","level":"1"}`)
	mustRun(t, env, home, "attest", "acme/widget@1.0.0", "--predicate-type", "https://vouch.dev/attestations/certification/v1", "--predicate", fips, "--key", lab)

	out := mustRun(t, env, home, "query", "--package", "acme/widget")
	if !strings.Contains(out, "release") || !strings.Contains(out, "attest provenance") || !strings.Contains(out, "attest certification") {
		t.Fatalf("query --package (records and attestations about the package):\n%s", out)
	}
	out = mustRun(t, env, home, "query", "--kind", "attestation", "--where", `fields.decision == "approved"`)
	if !strings.Contains(out, "attest approval") || strings.Contains(out, "provenance") {
		t.Fatalf("query --where:\n%s", out)
	}

	pol := write("policy.yaml", `keys:
  owners: [`+aliceID+`]
  builder: [`+builderID+`]
  fips-lab: [`+labID+`]
  qa: [`+qa1ID+`, `+qa2ID+`, `+qa3ID+`]
require:
  - name: published-by-owner
    rule: release.status == "published" && release.signers.exists(k, k in keys.owners)
  - name: slsa-from-builder
    rule: attestations.exists(a, a.verified && a.predicateType == "https://slsa.dev/provenance/v1" && a.signers.exists(k, k in keys.builder))
  - name: fips-140-3
    rule: attestations.exists(a, a.verified && a.fields.program == "FIPS 140-3" && a.signers.exists(k, k in keys["fips-lab"]))
  - name: qa-two-of-three
    rule: keys.qa.filter(k, attestations.exists(a, a.verified && a.fields.decision == "approved" && k in a.signers)).size() >= 2
deny:
  - name: yanked-or-removed
    rule: release.status in ["yanked", "deleted", "tombstoned", "banished"]
`)
	out = mustRun(t, env, home, "verify", "acme/widget@1.0.0", "--file", art, "--policy", pol)
	if !strings.Contains(out, "verdict: PASS") || strings.Contains(out, "FAIL") {
		t.Fatalf("verify:\n%s", out)
	}
	other := write("other.tgz", "something else")
	out, err := run(t, env, home, "verify", "acme/widget@1.0.0", "--file", other, "--policy", pol)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "FAIL  check    artifact-digest") {
		t.Fatalf("verify with the wrong file: %v\n%s", err, out)
	}
	mustRun(t, env, home, "yank", "acme/widget@1.0.0", "--reason", "security", "--key", alice)
	out, err = run(t, env, home, "verify", "acme/widget@1.0.0", "--policy", pol)
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "FAIL  deny     yanked-or-removed") || !strings.Contains(out, "verdict: FAIL") {
		t.Fatalf("verify after the yank: %v\n%s", err, out)
	}
	// As of before the yank, the same verification still passes.
	out = mustRun(t, env, home, "--json", "query", "--package", "acme/widget", "--type", "yank", "--include", "yanked")
	var qr struct{ Items []struct{ Index uint64 } }
	json.Unmarshal([]byte(out), &qr)
	out = mustRun(t, env, home, "verify", "acme/widget@1.0.0", "--policy", pol, "--at", fmt.Sprint(qr.Items[0].Index))
	if !strings.Contains(out, "verdict: PASS") {
		t.Fatalf("verify --at before the yank:\n%s", out)
	}
	bad := write("bad.yaml", "require:\n  - name: broken\n    rule: release.status ==\n")
	if _, err := run(t, env, home, "verify", "acme/widget@1.0.0", "--policy", bad); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("broken policy: %v", err)
	}
}

// TestInputUsersGetWrong: versions, confusable names, predicate types,
// operator keys used without --as-operator or by a non-operator, and a
// query filter that the default state filter must not hide: each gets an
// answer that says what to do.
func TestInputUsersGetWrong(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	home, dir := t.TempDir(), t.TempDir()
	alice := filepath.Join(dir, "alice.key")
	mustRun(t, env, home, "key", "generate", "--out", alice)
	mustRun(t, env, home, "identity", "register", "--key", alice)
	mustRun(t, env, home, "package", "create", "acme/widget", "--key", alice)
	art := filepath.Join(dir, "widget.tgz")
	os.WriteFile(art, []byte("widget"), 0o644)
	for _, ref := range []string{"acme/widget@../1", "acme/widget@1.0", "acme/widget@v1.0.0", "acme/widget@1.0.0+build"} {
		if _, err := run(t, env, home, "publish", ref, art, "--key", alice); err == nil || !strings.Contains(err.Error(), "version") {
			t.Fatalf("publish %s: %v", ref, err)
		}
	}
	for _, name := range []string{"acme/wid-get", "acme/wid_get", "acme/widget.", "acme/wid..get"} {
		_, err := run(t, env, home, "package", "create", name, "--key", alice)
		if err == nil || name != "acme/widget." && name != "acme/wid..get" && !strings.Contains(err.Error(), "acme/widget") {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	mustRun(t, env, home, "publish", "acme/widget@1.0.0", art, "--key", alice)
	pred := filepath.Join(dir, "pred.json")
	os.WriteFile(pred, []byte(`{"x": 1}`), 0o644)
	if _, err := run(t, env, home, "attest", "acme/widget@1.0.0", "--predicate-type", "notauri", "--predicate", pred, "--key", alice); err == nil || !strings.Contains(err.Error(), "absolute URI") {
		t.Fatalf("attest with a predicate type that is not a URI: %v", err)
	}
	op := filepath.Join(env.Dir, "operator.key")
	_, err := run(t, env, home, "yank", "acme/widget@1.0.0", "--reason", "security", "--key", op)
	if err == nil || !strings.Contains(err.Error(), "add --as-operator") {
		t.Fatalf("yank with the operator key and no --as-operator: %v", err)
	}
	_, err = run(t, env, home, "admin", "tombstone", "acme/widget@1.0.0", "--reason", "whatever", "--key", alice)
	if err == nil || !strings.Contains(err.Error(), "not an operator key") {
		t.Fatalf("admin tombstone by an owner: %v", err)
	}
	mustRun(t, env, home, "yank", "acme/widget@1.0.0", "--reason", "security", "--key", op, "--as-operator")
	out := mustRun(t, env, home, "--json", "query", "--package", "acme/widget", "--type", "yank")
	if !strings.Contains(out, `"type": "yank"`) {
		t.Fatalf("query --type yank of a yanked release found nothing:\n%s", out)
	}
}
