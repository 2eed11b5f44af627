package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vouchdev/vouch/audit"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// TestKill9DuringLoad kills the server with SIGKILL while eight clients
// write to it, restarts it, and checks that every acknowledged entry is in
// the log with the bytes that were acknowledged, that every checkpoint
// signed after the restart is consistent with every one signed before, and
// that the audit finds every checkpoint's index root to be the one the
// log's entries make.
func TestKill9DuringLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, dir)
	vkey, _ := os.ReadFile(filepath.Join(dir, datadir.LogVKeyFile))
	v, err := translog.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	newClient := func(url string) *client.Client {
		c, err := client.New(url, client.Options{LogKey: v, Home: home})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const writers = 8
	var mu sync.Mutex
	var got []acked
	var failures atomic.Int64
	var killed atomic.Bool
	var sawKill atomic.Int64 // writers that failed after the kill
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(p.URL)
			counted := false
			for i := 0; ctx.Err() == nil; i++ {
				k := newKey(t, keys.Ed25519)
				rc, err := c.Submit(ctx, sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k), i%20 == 0)
				if err != nil {
					failures.Add(1)
					if killed.Load() && !counted {
						counted = true
						sawKill.Add(1)
					}
					time.Sleep(5 * time.Millisecond)
					continue
				}
				mu.Lock()
				got = append(got, acked{rc.Index, rc.LeafHash})
				mu.Unlock()
			}
		}()
	}
	// Kill the server under load, once at least 100 writes were
	// acknowledged and the clients verified a checkpoint.
	trust := client.NewTrustStore(home)
	waitUntil(t, time.Minute, "100 writes acknowledged and a checkpoint verified before the kill", func() bool {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		held, err := trust.Load(v)
		return n >= 100 && err == nil && held != nil
	})
	p.kill()
	killed.Store(true)
	// Every writer has seen the server gone, so no answer sent before the
	// kill is still on its way to one of them.
	waitUntil(t, 30*time.Second, "every writer failing after the kill", func() bool { return sawKill.Load() == writers })
	cancel()
	wg.Wait()

	p2 := startServe(t, dir)
	c := newClient(p2.URL)
	maxIdx := uint64(0)
	for _, a := range got {
		maxIdx = max(maxIdx, a.index)
	}
	deadline := time.Now().Add(30 * time.Second)
	var cp *translog.Checkpoint
	for {
		// Checkpoint verifies consistency with the one held before the kill.
		if cp, _, err = c.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if cp.Size > maxIdx {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acknowledged entries up to %d, but the log has %d after restart", maxIdx, cp.Size)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, a := range got {
		if err := c.ProveLeafHash(context.Background(), a.index, a.leafHash, cp); err != nil {
			t.Fatalf("acknowledged entry %d: %v", a.index, err)
		}
	}
	// The index the restarted registry commits to is the one the log's
	// entries make: every checkpoint's index root, before the kill and
	// after, is the auditor's.
	rep, err := audit.Run(context.Background(), audit.Options{Client: c, LogURL: p2.URL}, v)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.IndexRoots == 0 {
		t.Fatalf("audit after the restart: %+v", rep)
	}
	// The restarted log keeps accepting writes.
	k := newKey(t, keys.ECDSAP256)
	if _, err := c.Submit(context.Background(), sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k), true); err != nil {
		t.Fatal(err)
	}
	p2.stop(t)
	cps := checkAllCheckpoints(t, dir)
	t.Logf("%d writes acknowledged (%d failed around the kill), all present; %d checkpoints consistent; %d index roots audited", len(got), failures.Load(), cps, rep.IndexRoots)
}
