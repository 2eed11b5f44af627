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

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// TestKill9DuringLoad kills the server with SIGKILL while eight clients
// write to it, restarts it, and checks that every acknowledged entry is in
// the log with the bytes that were acknowledged, and that every checkpoint
// signed after the restart is consistent with every one signed before.
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
	var mu sync.Mutex
	var got []acked
	var failures atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(p.URL)
			for i := 0; ctx.Err() == nil; i++ {
				k := newKey(t, keys.Ed25519)
				rc, err := c.Submit(ctx, sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k), i%20 == 0)
				if err != nil {
					failures.Add(1)
					time.Sleep(5 * time.Millisecond)
					continue
				}
				mu.Lock()
				got = append(got, acked{rc.Index, rc.LeafHash})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	p.kill()
	mu.Lock()
	n := len(got)
	mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	if n < 100 {
		t.Fatalf("only %d writes acknowledged before the kill", n)
	}
	held, err := client.NewTrustStore(home).Load(v)
	if err != nil || held == nil {
		t.Fatalf("no checkpoint verified before the kill: %v", err)
	}

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
	// The restarted log keeps accepting writes.
	k := newKey(t, keys.ECDSAP256)
	if _, err := c.Submit(context.Background(), sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k), true); err != nil {
		t.Fatal(err)
	}
	p2.stop(t)
	cps := checkAllCheckpoints(t, dir)
	t.Logf("%d writes acknowledged (%d failed around the kill), all present; %d checkpoints consistent", len(got), failures.Load(), cps)
}
