package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	tclient "github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

func newKey(t testing.TB, typ keys.Type) *keys.PrivateKey {
	k, err := keys.Generate(typ)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t testing.TB, r *record.Record, signers ...*keys.PrivateKey) *client.Submission {
	if r.Time == "" {
		r.Time = time.Now().UTC().Format(time.RFC3339)
	}
	env, err := record.SignRecord(r, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return &client.Submission{Envelope: env}
}

// TestRaceForPackage has writers race to create the same package, and then
// race to extend its chain from the same head: each time exactly one wins
// and the others get 409.
func TestRaceForPackage(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	ctx := context.Background()
	const writers = 6
	var ks []*keys.PrivateKey
	for i := 0; i < writers; i++ {
		ks = append(ks, env.Key(keys.Type([]keys.Type{keys.Ed25519, keys.ECDSAP256}[i%2])))
	}
	var owners []string
	for _, k := range ks {
		owners = append(owners, k.ID())
	}
	race := func(subs []*client.Submission, loserCode string) int {
		var wg sync.WaitGroup
		errs := make([]error, len(subs))
		start := make(chan struct{})
		for i, s := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = env.Client().Submit(ctx, s, true)
			}()
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Fatalf("two writers won: %d and %d", won, i)
			case err == nil:
				won = i
			case !client.IsCode(err, loserCode):
				t.Fatalf("writer %d: %v, want %s", i, err, loserCode)
			default:
				var ae *client.APIError
				errors.As(err, &ae)
				if ae.Status != 409 {
					t.Fatalf("loser got HTTP %d", ae.Status)
				}
			}
		}
		if won < 0 {
			t.Fatal("nobody won")
		}
		return won
	}
	for round := 0; round < 5; round++ {
		name := fmt.Sprintf("race/p%d", round)
		var creates []*client.Submission
		for _, k := range ks {
			creates = append(creates, sign(t, &record.Record{Type: record.TypeCreate, Package: name, Owners: owners}, k))
		}
		race(creates, "package_exists")
		// All owners now extend the chain from the same head.
		pkgHead := headOf(t, env, name)
		var grants []*client.Submission
		for i, k := range ks {
			grants = append(grants, sign(t, &record.Record{Type: record.TypeGrant, Package: name, Prev: pkgHead,
				KeyID: ks[(i+1)%writers].ID(), Permissions: []string{"publish"}}, k))
		}
		race(grants, "stale_prev")
	}
}

// headOf reads a package's chain head from the registry's state.
func headOf(t testing.TB, env *testreg.Env, name string) string {
	p, err := env.Reg.PackageState(context.Background(), name, 0)
	if err != nil || p == nil {
		t.Fatalf("package %s: %v", name, err)
	}
	return p.Head
}

type acked struct {
	index    uint64
	leafHash tlog.Hash
}

// TestManyConcurrentWriters writes 5,000 entries from 8 concurrent clients
// and checks that every acknowledged entry is provably in the final
// checkpoint, that every pair of successive checkpoints is consistent, and
// that a tlog client that is not ours (Tessera's) reads and verifies the
// same log through the tile API.
func TestManyConcurrentWriters(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	ctx := context.Background()
	const clients, iters = 8, 313 // 8 x 313 x 2 = 5,008 entries
	const total = clients * iters * 2
	var mu sync.Mutex
	var got []acked
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := env.Client()
			for i := 0; i < iters; i++ {
				typ := keys.Ed25519
				if i%4 == 0 {
					typ = keys.ECDSAP256
				}
				k := newKey(t, typ)
				for _, s := range []*client.Submission{
					sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k),
					sign(t, &record.Record{Type: record.TypeCreate, Package: fmt.Sprintf("w%d/p%d", w, i), Owners: []string{k.ID()}}, k),
				} {
					rc, err := c.Submit(ctx, s, i%50 == 0)
					if err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					mu.Lock()
					got = append(got, acked{rc.Index, rc.LeafHash})
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(got) != total {
		t.Fatalf("%d entries acknowledged, want %d", len(got), total)
	}
	c := env.Client()
	var cp *translog.Checkpoint
	waitUntil(t, time.Minute, fmt.Sprintf("a checkpoint covering all %d entries", total), func() bool {
		var err error
		if cp, _, err = c.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		return cp.Size >= total+1
	})
	seen := map[uint64]bool{}
	for _, a := range got {
		if seen[a.index] {
			t.Fatalf("index %d acknowledged twice", a.index)
		}
		seen[a.index] = true
		if err := c.ProveLeafHash(ctx, a.index, a.leafHash, cp); err != nil {
			t.Fatalf("entry %d: %v", a.index, err)
		}
	}

	// Every checkpoint the registry signed is consistent with the next.
	cps, err := env.Store.Checkpoints(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) < 3 {
		t.Fatalf("only %d checkpoints for %d entries", len(cps), total)
	}
	var prev *translog.Checkpoint
	for _, row := range cps {
		cur, err := env.Verifier.Open(row.Note)
		if err != nil {
			t.Fatalf("checkpoint %d: %v", row.Size, err)
		}
		if prev != nil {
			p, err := c.ConsistencyProof(ctx, prev.Size, cur.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := translog.VerifyConsistency(prev, cur, p); err != nil {
				t.Fatal(err)
			}
		}
		prev = cur
	}
	t.Logf("%d entries, %d checkpoints, all consistent", total, len(cps))

	verifyWithTessera(t, env, got)
}

// verifyWithTessera reads the log with transparency-dev/tessera's client:
// the checkpoint, every entry bundle and inclusion proofs built from hash
// tiles, checked with transparency-dev/merkle.
func verifyWithTessera(t *testing.T, env *testreg.Env, want []acked) {
	ctx := context.Background()
	u, _ := url.Parse(env.URL + "/log/")
	f, err := tclient.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, _, err := tclient.FetchCheckpoint(ctx, f.ReadCheckpoint, env.Verifier.Note(), env.Verifier.Origin())
	if err != nil {
		t.Fatal(err)
	}
	leafHashes := make([][]byte, 0, cp.Size)
	for i := uint64(0); i < cp.Size; i += 256 {
		b, err := tclient.GetEntryBundle(ctx, f.ReadEntryBundle, i/256, cp.Size)
		if err != nil {
			t.Fatalf("bundle %d: %v", i/256, err)
		}
		for _, e := range b.Entries {
			leafHashes = append(leafHashes, rfc6962.DefaultHasher.HashLeaf(e))
		}
	}
	if uint64(len(leafHashes)) != cp.Size {
		t.Fatalf("bundles hold %d entries, checkpoint %d", len(leafHashes), cp.Size)
	}
	pb, err := tclient.NewProofBuilder(ctx, cp.Size, f.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range want {
		if string(leafHashes[a.index]) != string(a.leafHash[:]) {
			t.Fatalf("entry %d in the bundles is not the acknowledged one", a.index)
		}
		if i%10 != 0 { // proofs for a tenth of the entries; bundles cover all
			continue
		}
		p, err := pb.InclusionProof(ctx, a.index)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, a.index, cp.Size, leafHashes[a.index], p, cp.Hash); err != nil {
			t.Fatalf("entry %d: %v", a.index, err)
		}
	}
}

// TestClientRefusesRollbackAndFork serves a client an older state of the
// log, and then a forked one (same key and origin, different entries): the
// client refuses both and keeps the checkpoint it held.
func TestClientRefusesRollbackAndFork(t *testing.T) {
	ctx := context.Background()
	// A snapshot of the data directory is a snapshot of the log only with
	// the embedded database.
	dir := filepath.Join(t.TempDir(), "data")
	env := testreg.Start(t, testreg.Options{Dir: dir, SQLite: true})
	k := env.Key(keys.Ed25519)
	env.Must(&record.Record{Type: record.TypeCreate, Package: "a/one", Owners: []string{k.ID()}}, k)
	env.Stop()
	snapshot := filepath.Join(t.TempDir(), "snapshot")
	copyDir(t, dir, snapshot)

	env = testreg.Start(t, testreg.Options{Dir: dir, SQLite: true})
	env.Must(&record.Record{Type: record.TypeCreate, Package: "a/two", Owners: []string{k.ID()}}, k)
	env.Must(&record.Record{Type: record.TypeCreate, Package: "a/three", Owners: []string{k.ID()}}, k)
	home := t.TempDir()
	c := env.ClientAt(home)
	held, _, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env.Stop()

	// The snapshot is an older state of the same log: a rollback.
	old := testreg.Start(t, testreg.Options{Dir: snapshot, SQLite: true})
	_, _, err = old.ClientAt(home).Checkpoint(ctx)
	var rb *client.RollbackError
	if !errors.As(err, &rb) || rb.Held != held.Size {
		t.Fatalf("rollback: got %v", err)
	}
	// Grow the snapshot with other entries: a fork of the same log. At the
	// held size it has another root; beyond it, it is not consistent.
	for _, name := range []string{"b/two", "b/three"} {
		old.Must(&record.Record{Type: record.TypeCreate, Package: name, Owners: []string{k.ID()}}, k)
	}
	_, _, err = old.ClientAt(home).Checkpoint(ctx)
	var fe *client.ForkError
	if !errors.As(err, &fe) || fe.Got != held.Size {
		t.Fatalf("fork at the same size: got %v", err)
	}
	old.Must(&record.Record{Type: record.TypeCreate, Package: "b/four", Owners: []string{k.ID()}}, k)
	_, _, err = old.ClientAt(home).Checkpoint(ctx)
	if !errors.As(err, &fe) || fe.Got <= held.Size {
		t.Fatalf("fork beyond the held size: got %v", err)
	}
	after, err := old.ClientAt(home).Held()
	if err != nil || after.Size != held.Size || after.Hash != held.Hash {
		t.Fatal("the client's held checkpoint changed")
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			copyDir(t, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()))
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
