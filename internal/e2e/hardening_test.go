package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch/audit"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// serveClient returns a verifying client of a vouch serve process on dir.
func serveClient(t *testing.T, dir, url string) *client.Client {
	t.Helper()
	vkey, err := os.ReadFile(filepath.Join(dir, datadir.LogVKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	v, err := translog.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(url, client.Options{LogKey: v, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serveFails runs vouch serve, which must exit with an error, and returns
// what it printed.
func serveFails(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(vouchBin, append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("vouch serve %v exited cleanly; want a refusal:\n%s", args, out.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("vouch serve %v kept running; want a refusal:\n%s", args, out.String())
	}
	return out.String()
}

// TestLostDatabaseDoesNotFork deletes a registry's database and restarts
// it: the signer refuses to start a second history under the same key and
// origin, until the operator starts a new log under a new origin.
func TestLostDatabaseDoesNotFork(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, dir)
	c := serveClient(t, dir, p.URL)
	for i := 0; i < 3; i++ {
		k := newKey(t, keys.Ed25519)
		if _, err := c.Submit(context.Background(), sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k), true); err != nil {
			t.Fatal(err)
		}
	}
	p.stop(t)
	matches, _ := filepath.Glob(filepath.Join(dir, datadir.DatabaseFile+"*"))
	if len(matches) == 0 {
		t.Fatal("no database files to remove")
	}
	for _, m := range matches {
		os.Remove(m)
	}
	out := serveFails(t, dir)
	for _, want := range []string{"refusing to sign", "database", "--new-log"} {
		if !strings.Contains(out, want) {
			t.Fatalf("vouch serve on a lost database said:\n%s\nwant it to mention %q", out, want)
		}
	}
	// Still refused on a second try: nothing was signed in between.
	serveFails(t, dir)
	// --new-log without a new origin is refused; with one, a new log starts.
	if out := serveFails(t, dir, "--new-log"); !strings.Contains(out, "--origin") {
		t.Fatalf("--new-log without --origin: %s", out)
	}
	p2 := startServe(t, dir, "--new-log", "--origin", "example.test/second-log")
	c2 := serveClient(t, dir, p2.URL)
	cp, _, err := c2.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Origin != "example.test/second-log" {
		t.Fatalf("new log's origin %q", cp.Origin)
	}
	if old, _ := filepath.Glob(filepath.Join(dir, datadir.LogKeyFile+".retired-*")); len(old) != 1 {
		t.Fatalf("the old log key was not kept aside: %v", old)
	}
}

// vmHWM returns the peak resident memory of a process, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestMaximumBodiesStayUnderTheMemoryCeiling sends twenty attestations of
// the maximum size at once, each a statement of hundreds of thousands of
// keys signed by a registered key (so it is parsed to the end), and checks
// that the server's peak memory stays under the ceiling docs/operating.md
// gives (--max-inflight-memory plus 256 MiB), and that every answer is
// 4xx or a 503 with Retry-After, never another 5xx.
func TestMaximumBodiesStayUnderTheMemoryCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 430 MB")
	}
	const inflight = 256 << 20
	dir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, dir, "--max-inflight-memory", strconv.Itoa(inflight))
	c := serveClient(t, dir, p.URL)
	k := newKey(t, keys.Ed25519)
	if _, err := c.Submit(context.Background(), sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k), true); err != nil {
		t.Fatal(err)
	}
	// A statement just under 16 MiB: many small keys, the costliest shape.
	pred := map[string]string{}
	size := 0
	for i := 0; size < 16<<20-4096; i++ {
		key := fmt.Sprintf("k%07d", i)
		pred[key] = "v"
		size += len(key) + 8
	}
	payload := statement("https://example.com/big/v1", pred, "sha256:"+strings.Repeat("ab", 32))
	if len(payload) > 16<<20 {
		t.Fatalf("statement is %d bytes", len(payload))
	}
	env, err := record.Sign(record.InTotoPayloadType, payload, k)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(env)
	t.Logf("body of %d bytes, statement of %d", len(body), len(payload))
	base := vmHWM(t, p.cmd.Process.Pid)
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(p.URL+"/api/v1/entries", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			statuses[i] = resp.StatusCode
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		}()
	}
	wg.Wait()
	peak := vmHWM(t, p.cmd.Process.Pid)
	t.Logf("statuses %v; peak RSS %d MiB (%d MiB before)", statuses, peak>>20, base>>20)
	for _, st := range statuses {
		if st >= 500 && st != http.StatusServiceUnavailable || st < 400 {
			t.Fatalf("status %d", st)
		}
	}
	if ceiling := int64(inflight + 256<<20); peak > ceiling {
		t.Fatalf("peak RSS %d MiB is over the ceiling of %d MiB", peak>>20, ceiling>>20)
	}
}

// TestForeignStatementBytes: a statement written by another tool, pretty
// printed and ending in a newline, signed with go-securesystemslib's own
// signer, verifies in the client (vouch verify's evidence) and in the
// audit, which both check the signed bytes, not a re-encoding.
func TestForeignStatementBytes(t *testing.T) {
	l := newLC(t)
	ctx := context.Background()
	l.upload([]byte("widget 1.0.0"))
	l.release("1.0.0", []byte("widget 1.0.0"), "published", l.owner)
	builder := l.env.Key(keys.Ed25519)
	var pretty bytes.Buffer
	json.Indent(&pretty, statement("https://slsa.dev/provenance/v1", slsa, digestOf([]byte("widget 1.0.0"))), "", "    ")
	pretty.WriteString("\n")
	es, err := dsse.NewEnvelopeSigner(sslibSigner(t, builder))
	if err != nil {
		t.Fatal(err)
	}
	env, err := es.SignPayload(ctx, record.InTotoPayloadType, pretty.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.c.Submit(ctx, &client.Submission{Envelope: env, Signers: []string{builder.ID()}}, true); err != nil {
		t.Fatal(err)
	}
	ev, err := l.env.Client().Gather(ctx, l.pkg, "1.0.0", client.At{})
	if err != nil {
		t.Fatalf("verifying the evidence: %v", err)
	}
	if len(ev.Attestations) != 1 || !ev.Attestations[0].Verified || !bytes.Equal(ev.Attestations[0].Statement, pretty.Bytes()) {
		t.Fatalf("evidence: %+v", ev.Attestations)
	}
	rep, err := audit.Run(ctx, audit.Options{Client: l.env.Client(), LogURL: l.env.URL, Compare: true}, l.env.Verifier)
	if err != nil || !rep.OK() || rep.Statements != 1 {
		t.Fatalf("audit: %+v %v", rep, err)
	}
}
