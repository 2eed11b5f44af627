package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/audit"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
)

// runVouch runs a vouch command with its own trust store and returns its
// standard output; it fails the test on a non-zero exit.
func runVouch(t *testing.T, home string, args ...string) string {
	t.Helper()
	out, err := vouchCmd(home, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("vouch %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

func vouchCmd(home string, args ...string) *exec.Cmd {
	cmd := exec.Command(vouchBin, args...)
	cmd.Env = append(os.Environ(), "VOUCH_HOME="+home)
	return cmd
}

// writeKey writes a private key file for the CLI.
func writeKey(t *testing.T, k *keys.PrivateKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "signer.key")
	if err := keys.WriteFiles(p, k); err != nil {
		t.Fatal(err)
	}
	return p
}

// imports returns the import entries of a log, each checked: its proof in
// the source checkpoint verifies with the key it names.
func imports(t *testing.T, c *client.Client) []*record.ImportRef {
	t.Helper()
	ctx := context.Background()
	cp, _, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*record.ImportRef
	for i := uint64(0); i < cp.Size; i++ {
		e, err := c.EntryIn(ctx, i, cp)
		if err != nil {
			t.Fatal(err)
		}
		le, err := record.ParseLeaf(e.Leaf)
		if err != nil {
			t.Fatal(err)
		}
		if le.Import == nil {
			continue
		}
		if err := le.Import.Verify(); err != nil {
			t.Fatalf("import at %d: %v", i, err)
		}
		out = append(out, le.Import)
	}
	return out
}

// TestMovePackage moves a package with a rich history (grants, releases
// with content, a yank, an attestation, a rotated owner key) from A to B
// with the CLI, then back: every imported entry is proven in the source
// log, with a checkpoint consistent with what A's clients hold; A refuses
// the owners' writes while the package is away, naming B; readers that
// ask A end up at B; the package takes writes at B, then at A again; both
// logs audit clean; and forged imports are refused.
func TestMovePackage(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	ctx := context.Background()
	a := testreg.Start(t, testreg.Options{})
	b := testreg.Start(t, testreg.Options{})
	aKey, bKey := filepath.Join(a.Dir, datadir.LogVKeyFile), filepath.Join(b.Dir, datadir.LogVKeyFile)

	owner, delegate, qa := a.Key(keys.Ed25519), a.Key(keys.ECDSAP256), a.Key(keys.Ed25519)
	l := &lc{t: t, env: a, c: a.Client(), pkg: "acme/moving", owner: owner}
	a.Must(&record.Record{Type: record.TypeCreate, Package: l.pkg, Owners: []string{owner.ID()}}, owner)
	l.must(record.ChainPackage, &record.Record{Type: record.TypeGrant, KeyID: delegate.ID(), Permissions: []string{"publish", "yank"}}, owner)
	v1, v2 := []byte("moving content 1.0.0"), []byte("moving content 1.1.0")
	d1, _ := l.upload(v1), l.upload(v2)
	l.release("1.0.0", v1, "published", owner)
	l.release("1.1.0", v2, "published", delegate)
	l.must(record.ChainPackage, &record.Record{Type: record.TypeYank, Version: "1.1.0", Reason: "broken-build"}, delegate)
	if _, err := attest(t, l.c, statement(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa"}, d1), nil, qa); err != nil {
		t.Fatal(err)
	}
	// The owner rotates to a new key, which signs the move.
	owner2 := newKey(t, keys.Ed25519)
	a.Must(&record.Record{Type: record.TypeIdentityRotate, KeyID: owner.ID(), PublicKey: owner2.Public().Base64()}, owner, owner2)
	// Traffic of other packages, which stays at A.
	other := &lc{t: t, env: a, c: a.Client(), pkg: "acme/staying", owner: delegate}
	a.Must(&record.Record{Type: record.TypeCreate, Package: other.pkg, Owners: []string{delegate.ID()}}, delegate)
	other.upload([]byte("staying"))
	other.release("0.1.0", []byte("staying"), "published", delegate)

	// A reader of A holds A's checkpoint from before the move.
	home := t.TempDir()
	aReader := a.ClientAt(home)
	if _, _, err := aReader.Package(ctx, l.pkg, client.At{}); err != nil {
		t.Fatal(err)
	}

	// The move, with the CLI.
	ownerFile := writeKey(t, owner2)
	var res struct {
		Status                                             string
		Records, Identities, Attestations, Content, Erased int
	}
	out := runVouch(t, t.TempDir(), "package", "move", l.pkg, "--registry", a.URL, "--log-key", aKey,
		"--to", b.URL, "--to-key", bKey, "--key", ownerFile, "--json")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// create, grant, 2 releases, yank, move; owner, delegate, qa, the
	// rotation; one attestation; two contents.
	if res.Status != "active" || res.Records != 6 || res.Identities != 4 || res.Attestations != 1 || res.Content != 2 {
		t.Fatalf("the move carried %+v", res)
	}

	// At A: moved, naming B; the owners' writes are refused.
	pa, _, err := aReader.Package(ctx, l.pkg, client.At{})
	if err != nil || pa.Status != "moved" || pa.Location == nil || pa.Location.Origin != b.Verifier.Origin() || pa.Location.URL != b.URL {
		t.Fatalf("at A after the move: %+v %v", pa, err)
	}
	l.owner = owner2
	_, err = l.write(record.ChainPackage, &record.Record{Type: record.TypeGrant, KeyID: qa.ID(), Permissions: []string{"publish"}}, owner2)
	if !client.IsCode(err, "moved") || !strings.Contains(err.Error(), b.Verifier.Origin()) {
		t.Fatalf("a write at A after the move: %v", err)
	}

	// At B: the same package, every entry imported proven in A's log, with
	// checkpoints A's reader finds consistent with the one it holds.
	bc := b.Client()
	pb, _, err := bc.Package(ctx, l.pkg, client.At{Include: "all"})
	if err != nil || pb.Status != "active" || len(pb.Owners) != 1 || pb.Owners[0] != owner.ID() || versions(pb) != "1.0.0=published 1.1.0=yanked" {
		t.Fatalf("at B: %+v %v", pb, err)
	}
	refs := imports(t, bc)
	if len(refs) != 11 {
		t.Fatalf("B holds %d imports, want 11", len(refs))
	}
	for _, ref := range refs {
		if ref.Origin != a.Verifier.Origin() || ref.VKey != a.Verifier.Key() {
			t.Fatalf("an import names %s %s", ref.Origin, ref.VKey)
		}
		if _, err := aReader.VerifyCheckpoint(ctx, string(ref.Checkpoint)); err != nil {
			t.Fatalf("the source checkpoint of %s: %v", ref, err)
		}
	}
	ev, err := bc.Gather(ctx, l.pkg, "1.0.0", client.At{})
	if err != nil || len(ev.Attestations) != 1 || !ev.Attestations[0].Verified {
		t.Fatalf("evidence at B: %+v %v", ev, err)
	}
	if err := bc.Fetch(ctx, d1, int64(len(v1)), filepath.Join(t.TempDir(), "c"), nil); err != nil {
		t.Fatalf("content at B: %v", err)
	}
	if _, _, err := bc.Package(ctx, "acme/staying", client.At{}); !client.IsCode(err, "unknown_package") {
		t.Fatalf("another package came along: %v", err)
	}

	// The package takes writes at B.
	lb := &lc{t: t, env: b, c: bc, pkg: l.pkg, owner: owner2}
	v3 := []byte("moving content 2.0.0")
	lb.upload(v3)
	lb.release("2.0.0", v3, "published", owner2)

	// A reader that asks A is led to B, by the library and by the CLI.
	to, p, _, err := aReader.Resolve(ctx, l.pkg, true)
	if err != nil || to.Origin() != b.Verifier.Origin() || p.Latest != "2.0.0" {
		t.Fatalf("resolving at A: %+v %v", p, err)
	}
	show := vouchCmd(home, "show", l.pkg, "--registry", a.URL, "--log-key", aKey)
	so, err := show.CombinedOutput()
	if err != nil || !strings.Contains(string(so), "answering from there") || !strings.Contains(string(so), "2.0.0") {
		t.Fatalf("vouch show at A: %v\n%s", err, so)
	}
	verify := vouchCmd(home, "verify", l.pkg+"@1.0.0", "--registry", a.URL, "--log-key", aKey)
	vo, _ := verify.CombinedOutput()
	if !strings.Contains(string(vo), "answering from there") || strings.Contains(string(vo), "verification failed") {
		t.Fatalf("vouch verify at A:\n%s", vo)
	}
	// Asked about the past, A answers as it was.
	if p, _, err := aReader.Package(ctx, l.pkg, client.At{Size: pa.HeadIndex}); err != nil || p.Status != "active" {
		t.Fatalf("at A before the move: %+v %v", p, err)
	}

	// Forged imports are refused, naming what is wrong.
	c := testreg.Start(t, testreg.Options{SQLite: true}).Client()
	bad := *refs[0]
	bad.Proof = append([][]byte{}, bad.Proof...)
	bad.Proof[0] = make([]byte, 32)
	if _, err := c.Import(ctx, &bad, nil, true); !client.IsCode(err, "malformed") || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("an import with a forged proof: %v", err)
	}
	bad = *refs[0]
	bad.Proof = nil
	if _, err := c.Import(ctx, &bad, nil, true); !client.IsCode(err, "malformed") {
		t.Fatalf("an import without its proof: %v", err)
	}
	bad = *refs[0]
	bad.VKey = b.Verifier.Key()
	if _, err := c.Import(ctx, &bad, nil, true); !client.IsCode(err, "malformed") {
		t.Fatalf("an import naming another log's key: %v", err)
	}
	// A leaf the source log does not hold (its log time changed), with a
	// real checkpoint and proof.
	bad = *refs[0]
	bad.Leaf = []byte(strings.Replace(string(bad.Leaf), `"time":"2`, `"time":"1`, 1))
	if _, err := c.Import(ctx, &bad, nil, true); !client.IsCode(err, "malformed") || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("an import of a leaf the source does not hold: %v", err)
	}

	// And back to A, with the CLI, from B.
	out = runVouch(t, t.TempDir(), "package", "move", l.pkg, "--registry", b.URL, "--log-key", bKey,
		"--to", a.URL, "--to-key", aKey, "--key", ownerFile, "--json")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The release of 2.0.0 and the move back; no identity is new to A.
	if res.Status != "active" || res.Records != 2 || res.Identities != 0 || res.Content != 1 {
		t.Fatalf("the move back carried %+v", res)
	}
	pa, _, err = aReader.Package(ctx, l.pkg, client.At{})
	if err != nil || pa.Status != "active" || pa.Latest != "2.0.0" {
		t.Fatalf("at A after the move back: %+v %v", pa, err)
	}
	l.owner = owner2
	l.release("2.1.0", v3, "published", owner2)
	if to, _, _, err := bc.Resolve(ctx, l.pkg, true); err != nil || to.Origin() != a.Verifier.Origin() {
		t.Fatalf("resolving at B after the move back: %v", err)
	}
	_, err = lb.write(record.ChainPackage, &record.Record{Type: record.TypeYank, Version: "2.0.0", Reason: "x"}, owner2)
	if !client.IsCode(err, "moved") {
		t.Fatalf("a write at B after the move back: %v", err)
	}

	// Both logs replay clean.
	for _, env := range []*testreg.Env{a, b} {
		rep, err := audit.Run(ctx, audit.Options{Client: env.Client(), LogURL: env.URL, Compare: true, Workers: 2}, env.Verifier)
		if err != nil || !rep.OK() {
			t.Fatalf("audit of %s: %+v %v", env.Verifier.Origin(), rep, err)
		}
	}
}
