package tufclient_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/logchain"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/tufclient"
	"github.com/vouchdev/vouch/tufrepo"
)

// syncTargets signs the data directory's logs and log key, and the given
// operators, as new targets, and publishes them.
func syncTargets(t *testing.T, r *tufrepo.Repo, data string, ops ...*keys.PublicKey) {
	t.Helper()
	c, _, err := logchain.Load(filepath.Join(data, datadir.LogsFile))
	if err != nil {
		t.Fatal(err)
	}
	r.SetTarget(tufrepo.TargetLogs, c.Marshal())
	r.SetTarget(tufrepo.TargetLogVKey, []byte(c.Current().VKey+"\n"))
	r.SetTarget(tufrepo.TargetOperators, tufrepo.MarshalOperators(ops...))
	if err := r.SignTargets(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(false); err != nil {
		t.Fatal(err)
	}
}

// tufClient refreshes the TUF trust of home and returns a client built on it.
func tufClient(t *testing.T, url, home string) *client.Client {
	t.Helper()
	tr, err := tufclient.Update(tufclient.Config{Registry: url, Home: home, Name: "test-registry"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(url, client.Options{Home: home, Trust: tr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func heldOf(t *testing.T, home string, vkey string) *translog.Checkpoint {
	t.Helper()
	v, err := translog.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := client.NewTrustStore(home).Load(v)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// TestClientsFollowRotations bootstraps clients from a pinned root, then
// rotates the targets key, an operator key and the log key (twice); a client
// that follows each step and one that was offline across both log rotations
// both carry their trust across, and reads from before a rotation verify.
func TestClientsFollowRotations(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	data, tufDir := filepath.Join(base, "data"), filepath.Join(base, "tuf")
	e := testreg.Start(t, testreg.Options{Dir: data, SQLite: true, TUFDir: tufDir})
	r := tufrepo.Open(tufDir)
	opPub := e.Operator.Public()
	if err := r.Init(tufrepo.InitOptions{Targets: map[string][]byte{}}); err != nil {
		t.Fatal(err)
	}
	syncTargets(t, r, data, opPub)
	root, _ := os.ReadFile(filepath.Join(tufDir, tufrepo.RepositoryDir, "1.root.json"))

	homeA, homeB := t.TempDir(), t.TempDir()
	for _, h := range []string{homeA, homeB} {
		if _, err := tufclient.Pin(tufclient.Config{Registry: e.URL, Home: h, Name: "test-registry"}, root); err != nil {
			t.Fatal(err)
		}
	}
	owner := e.Key(keys.Ed25519)
	e.Must(&record.Record{Type: record.TypeCreate, Package: "acme/one", Owners: []string{owner.ID()}}, owner)
	a, b := tufClient(t, e.URL, homeA), tufClient(t, e.URL, homeB)
	if _, _, err := a.Package(ctx, "acme/one", client.At{}); err != nil {
		t.Fatal(err)
	}
	cpB, _, err := b.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vkey1 := e.Verifier.Key()

	// Rotate the targets key; add an operator key to operators.json, then
	// grant it on the log: clients follow.
	if err := r.Rotate("targets", 1, 1); err != nil {
		t.Fatal(err)
	}
	op2 := e.Key(keys.Ed25519)
	syncTargets(t, r, data, opPub, op2.Public())
	ops, err := a.Operators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.Must(&record.Record{Type: record.TypeGrantOperator, Prev: ops.Head, KeyID: op2.ID()}, e.Operator)
	a = tufClient(t, e.URL, homeA)
	if ops, err = a.Operators(ctx); err != nil || len(ops.Keys) != 2 {
		t.Fatalf("operators after the grant: %v %v", ops, err)
	}
	// An operator the TUF targets never listed is refused.
	rogue := e.Key(keys.Ed25519)
	e.Must(&record.Record{Type: record.TypeGrantOperator, Prev: ops.Head, KeyID: rogue.ID()}, op2)
	if _, err := a.Operators(ctx); err == nil || !strings.Contains(err.Error(), rogue.ID()) {
		t.Fatalf("a rogue operator was not refused: %v", err)
	}
	syncTargets(t, r, data, opPub, op2.Public(), rogue.Public())

	// Rotate the log key: the new log continues the old one.
	e.Stop()
	e = testreg.Start(t, testreg.Options{Dir: data, SQLite: true, TUFDir: tufDir, RotateLog: "example.test/log-2"})
	syncTargets(t, r, data, opPub, op2.Public(), rogue.Public())
	a = tufClient(t, e.URL, homeA)
	cp, _, err := a.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Origin != "example.test/log-2" {
		t.Fatalf("checkpoint of %s", cp.Origin)
	}
	final1 := heldOf(t, homeA, vkey1)
	if final1 == nil || final1.Size >= cp.Size {
		t.Fatalf("the old log's held checkpoint was not carried to its last one: %v", final1)
	}
	// A read as of the old log verifies against its key, as a prefix.
	if _, pcp, err := a.Package(ctx, "acme/one", client.At{Size: final1.Size}); err != nil || pcp.Origin != final1.Origin {
		t.Fatalf("read at the old log's size: %v", err)
	}
	// The old key signing past its log's end is caught.
	retired, _ := filepath.Glob(filepath.Join(data, datadir.LogKeyFile+".retired-*"))
	skey, _ := os.ReadFile(retired[0])
	oldSigner, err := translog.NewSigner(string(skey))
	if err != nil {
		t.Fatal(err)
	}
	past, _ := translog.Sign(oldSigner, final1.Size+3, final1.Hash)
	var fe *client.ForkError
	if _, err := a.VerifyCheckpoint(ctx, string(past)); !errors.As(err, &fe) {
		t.Fatalf("a checkpoint of the old log past its end: %v", err)
	}
	e.Must(&record.Record{Type: record.TypeCreate, Package: "acme/two", Owners: []string{owner.ID()}}, owner)

	// Rotate again; B, offline since before the first rotation, catches up.
	e.Stop()
	e = testreg.Start(t, testreg.Options{Dir: data, SQLite: true, TUFDir: tufDir, RotateLog: "example.test/log-3"})
	syncTargets(t, r, data, opPub, op2.Public(), rogue.Public())
	b = tufClient(t, e.URL, homeB)
	cp3, _, err := b.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp3.Origin != "example.test/log-3" || cp3.Size <= cpB.Size {
		t.Fatalf("B's checkpoint: %s size %d", cp3.Origin, cp3.Size)
	}
	if got := heldOf(t, homeB, vkey1); got == nil || got.Size != final1.Size {
		t.Fatalf("B's checkpoint of the first log was not carried to its end: %v", got)
	}
	if _, _, err := b.Package(ctx, "acme/two", client.At{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Package(ctx, "acme/one", client.At{Size: cpB.Size}); err != nil {
		t.Fatalf("B's read at its old size: %v", err)
	}
}
