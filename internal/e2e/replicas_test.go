package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/testenv"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// TestReplicasFailover runs three vouch serve replicas on one PostgreSQL
// database and one S3 bucket, writes to all of them from many clients, kills
// the integrating replica with SIGKILL mid-load, and checks that another
// takes over, that every acknowledged entry is in the final checkpoint, that
// every checkpoint any replica ever served is consistent with the last, and
// that the replicas serve identical checkpoints and tiles.
func TestReplicasFailover(t *testing.T) {
	db := testenv.Database(t)
	if db == "" {
		testenv.Skip(t, "VOUCH_TEST_POSTGRES is not set")
	}
	blobs := testenv.Bucket(t)
	if blobs == "" {
		blobs = filepath.Join(t.TempDir(), "shared-blobs")
	}
	// One set of keys, copied to every replica's data directory.
	first := filepath.Join(t.TempDir(), "r0")
	d, err := datadir.Open(first, datadir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	var procs []*proc
	for i := 0; i < 3; i++ {
		dir := first
		if i > 0 {
			dir = filepath.Join(t.TempDir(), "r")
			for _, f := range []string{datadir.ConfigFile, datadir.LogKeyFile, datadir.LogVKeyFile, datadir.OperatorKeyFile, datadir.OperatorKeyFile + ".pub"} {
				b, err := os.ReadFile(filepath.Join(first, f))
				if err != nil {
					t.Fatal(err)
				}
				os.MkdirAll(dir, 0o700)
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		procs = append(procs, startServe(t, dir, "--db", db, "--blobs", blobs))
	}
	vkey, _ := os.ReadFile(filepath.Join(first, datadir.LogVKeyFile))
	v, err := translog.NewVerifier(string(vkey))
	if err != nil {
		t.Fatal(err)
	}
	status := func(p *proc) (st struct {
		Integrator bool
		TreeSize   uint64
	}, err error) {
		resp, err := http.Get(p.URL + "/api/v1/status")
		if err != nil {
			return st, err
		}
		defer resp.Body.Close()
		err = json.NewDecoder(resp.Body).Decode(&st)
		return st, err
	}
	leader := func(alive []*proc) (lead *proc) {
		waitUntil(t, 30*time.Second, "a replica integrating the log", func() bool {
			for _, p := range alive {
				if st, err := status(p); err == nil && st.Integrator {
					lead = p
					return true
				}
			}
			return false
		})
		return lead
	}
	lead := leader(procs)

	// Collect every checkpoint any replica serves.
	var cpMu sync.Mutex
	served := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var watchers sync.WaitGroup
	for _, p := range procs {
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			for ctx.Err() == nil {
				if resp, err := http.Get(p.URL + "/log/checkpoint"); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						cpMu.Lock()
						served[string(b)] = true
						cpMu.Unlock()
					}
				}
				time.Sleep(15 * time.Millisecond)
			}
		}()
	}

	var mu sync.Mutex
	var got []acked
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := procs[w%3]
			c, err := client.New(p.URL, client.Options{LogKey: v, Home: t.TempDir()})
			if err != nil {
				t.Error(err)
				return
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := newKey(t, keys.Ed25519)
				rc, err := c.Submit(context.Background(), sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k), i%10 == 0)
				if err != nil {
					time.Sleep(10 * time.Millisecond) // the killed replica, or a takeover in progress
					continue
				}
				mu.Lock()
				got = append(got, acked{rc.Index, rc.LeafHash})
				mu.Unlock()
			}
		}()
	}
	acks := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	// Kill the integrator under load, once 100 writes were acknowledged.
	waitUntil(t, time.Minute, "100 writes acknowledged before the kill", func() bool { return acks() >= 100 })
	lead.kill()
	var alive []*proc
	for _, p := range procs {
		if p != lead {
			alive = append(alive, p)
		}
	}
	start := time.Now()
	next := leader(alive)
	takeover := time.Since(start)
	// Writes go on after the takeover: 100 more are acknowledged.
	after := acks() + 100
	waitUntil(t, time.Minute, "100 more writes acknowledged after the takeover", func() bool { return acks() >= after })
	close(stop)
	wg.Wait()
	maxIdx := uint64(0)
	for _, a := range got {
		maxIdx = max(maxIdx, a.index)
	}
	c, err := client.New(next.URL, client.Options{LogKey: v, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var final *translog.Checkpoint
	for deadline := time.Now().Add(30 * time.Second); ; {
		if final, _, err = c.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if final.Size > maxIdx {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entries up to %d acknowledged, the log has %d", maxIdx, final.Size)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	watchers.Wait()
	seen := map[uint64]bool{}
	for _, a := range got {
		if seen[a.index] {
			t.Fatalf("index %d acknowledged twice", a.index)
		}
		seen[a.index] = true
		if err := c.ProveLeafHash(context.Background(), a.index, a.leafHash, final); err != nil {
			t.Fatalf("acknowledged entry %d: %v", a.index, err)
		}
	}
	for note := range served {
		cp, err := v.Open([]byte(note))
		if err != nil {
			t.Fatalf("a replica served a checkpoint that does not verify: %v", err)
		}
		var p tlog.TreeProof
		if cp.Size > 0 && cp.Size < final.Size {
			if p, err = c.ConsistencyProof(context.Background(), cp.Size, final.Size); err != nil {
				t.Fatal(err)
			}
		}
		if err := translog.VerifyConsistency(cp, final, p); err != nil {
			t.Fatalf("served checkpoint of size %d: %v", cp.Size, err)
		}
	}
	// Both surviving replicas serve the same checkpoint and tiles.
	fetch := func(p *proc, path string) string {
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for _, path := range []string{"/log/checkpoint", "/log/tile/0/000", "/log/tile/entries/000", "/log/tile/1/000.p/1"} {
		if a, b := fetch(alive[0], path), fetch(alive[1], path); a != b {
			t.Fatalf("replicas serve different %s", path)
		}
	}
	t.Logf("%d writes acknowledged across 3 replicas, %d checkpoints served, all consistent; integrator takeover %s",
		len(got), len(served), takeover.Round(time.Millisecond))
}
