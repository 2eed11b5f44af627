package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/internal/sigstoretest"
	"github.com/vouchdev/vouch/predicate"
)

// TestKeylessWalkthrough runs the README's keyless step with the vouch
// binary: a registry started with --sigstore-trusted-root (a JSON lines
// file of two roots, as gh attestation trusted-root writes), a release,
// keyless SLSA provenance from its release workflow (made here by a
// virtual Sigstore where the README has CI make it), a query by identity,
// and vouch verify with a policy that requires it.
func TestKeylessWalkthrough(t *testing.T) {
	dir := t.TempDir()
	v, other := sigstoretest.New(t), sigstoretest.New(t)
	roots := filepath.Join(dir, "trusted_root.jsonl")
	var jsonl bytes.Buffer
	for _, r := range [][]byte{other.TrustedRoot(sigstoretest.RootOptions{}), v.TrustedRoot(sigstoretest.RootOptions{})} {
		var compact bytes.Buffer
		if err := compactJSON(&compact, r); err != nil {
			t.Fatal(err)
		}
		jsonl.Write(compact.Bytes())
		jsonl.WriteByte('\n')
	}
	os.WriteFile(roots, jsonl.Bytes(), 0o644)
	data := filepath.Join(dir, "vouch-data")
	p := startServe(t, data, "--sigstore-trusted-root", roots)
	home := t.TempDir()
	vouch := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(vouchBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "VOUCH_REGISTRY="+p.URL, "VOUCH_LOG_KEY="+filepath.Join(data, "log.vkey"), "VOUCH_HOME="+home)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := vouch(args...)
		if err != nil {
			t.Fatalf("vouch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("key", "generate", "--out", "alice.key")
	must("identity", "register", "--key", "alice.key")
	must("package", "create", "acme/widget", "--key", "alice.key")
	tgz := []byte("widget 1.1.0\n")
	os.WriteFile(filepath.Join(dir, "widget-1.1.0.tgz"), tgz, 0o644)
	must("publish", "acme/widget@1.1.0", "widget-1.1.0.tgz", "--key", "alice.key")

	// What the release workflow's keyless signing writes.
	sum := sha256.Sum256(tgz)
	ci := sigstoretest.GitHubWorkflow("acme/widget", ".github/workflows/release.yml", "refs/tags/v1.1.0")
	prov := map[string]any{"buildDefinition": map[string]any{"buildType": "https://actions.github.io/buildtypes/workflow/v1", "externalParameters": map[string]any{}},
		"runDetails": map[string]any{"builder": map[string]any{"id": "https://github.com/actions/runner/github-hosted"}}}
	os.WriteFile(filepath.Join(dir, "widget-1.1.0.sigstore.json"),
		v.DSSE(ci, sigstoretest.Statement(predicate.SLSAProvenanceV1, prov, "sha256:"+hex.EncodeToString(sum[:])), sigstoretest.Options{}), 0o644)

	out := must("attest", "--bundle", "widget-1.1.0.sigstore.json")
	if !strings.Contains(out, "attestation logged at index") {
		t.Fatalf("attest --bundle: %s", out)
	}
	out = must("query", "--identity", "https://token.actions.githubusercontent.com https://github.com/acme/widget/*")
	if !strings.Contains(out, "attest provenance") || !strings.Contains(out, ci.Subject) {
		t.Fatalf("query --identity:\n%s", out)
	}
	os.WriteFile(filepath.Join(dir, "ci-policy.yaml"), []byte(`identities:
  release-ci:
    - issuer: https://token.actions.githubusercontent.com
      subject: https://github.com/acme/widget/.github/workflows/release.yml@refs/tags/v*
require:
  - name: published
    rule: release.status == "published"
  - name: slsa-provenance-from-release-ci
    rule: attestations.exists(a, a.verified && a.predicateType == "https://slsa.dev/provenance/v1" && a.identities.exists(i, trusted(i, "release-ci")))
`), 0o644)
	out = must("verify", "acme/widget@1.1.0", "--file", "widget-1.1.0.tgz", "--policy", "ci-policy.yaml", "--sigstore-trusted-root", "trusted_root.jsonl")
	if !strings.Contains(out, "PASS  require  slsa-provenance-from-release-ci") || !strings.Contains(out, "verdict: PASS") {
		t.Fatalf("verify:\n%s", out)
	}
	// Without the trusted root the client cannot vouch for the bundle.
	out, err := vouch("verify", "acme/widget@1.1.0", "--file", "widget-1.1.0.tgz", "--policy", "ci-policy.yaml")
	if err == nil || !strings.Contains(out, "FAIL  require  slsa-provenance-from-release-ci") {
		t.Fatalf("verify without the root: %v\n%s", err, out)
	}
	out = must("audit", "--sigstore-trusted-root", "trusted_root.jsonl")
	if !strings.Contains(out, "1 keyless bundles verified against a trusted root") {
		t.Fatalf("audit:\n%s", out)
	}
}

func compactJSON(dst *bytes.Buffer, src []byte) error { return json.Compact(dst, src) }
