package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/cosign"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/witness"
)

// testWitness is a running Vouch witness.
type testWitness struct {
	dir, url, vkey string
	srv            *httptest.Server
}

func startTestWitness(t *testing.T, name string) *testWitness {
	t.Helper()
	dir := t.TempDir()
	vkey, err := witness.Init(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.Open(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return &testWitness{dir: dir, url: srv.URL, vkey: vkey, srv: srv}
}

// newLogDir makes a registry data directory and returns it with its log's
// origin and verifier key, so that witnesses can be told about the log
// before it starts.
func newLogDir(t *testing.T) (dir, origin, vkey string) {
	dir = filepath.Join(t.TempDir(), "data")
	d, err := datadir.Open(dir, datadir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	return dir, d.Config.Origin, d.LogVKey
}

func witnessPolicy(t *testing.T, text string) *cosign.Policy {
	t.Helper()
	p, err := cosign.ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// cosigners returns the names of the witnesses whose cosignatures on a
// checkpoint the formats library's cosignature/v1 verifier accepts.
func cosigners(t *testing.T, cp []byte, ws ...*testWitness) []string {
	t.Helper()
	var vs []note.Verifier
	for _, w := range ws {
		v, err := fnote.NewVerifierForCosignatureV1(w.vkey)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(cp, note.VerifierList(vs...))
	var unverified *note.UnverifiedNoteError
	if errors.As(err, &unverified) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range n.Sigs {
		out = append(out, s.Name)
	}
	return out
}

func status(t *testing.T, url string) api.Status {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st api.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func logCheckpoint(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url + "/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func register(t *testing.T, c *client.Client) *client.Receipt {
	t.Helper()
	k := newKey(t, keys.Ed25519)
	rc, err := c.Submit(context.Background(), sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k), true)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestWitnessedRegistry runs a registry whose policy needs both of two
// Vouch witnesses, then one of two: every checkpoint it publishes carries
// the cosignatures the formats library verifies, a client with the policy
// verifies writes and reads against them, and one that needs both refuses a
// checkpoint one witness did not cosign, naming it.
func TestWitnessedRegistry(t *testing.T) {
	w1, w2 := startTestWitness(t, "witness.test/w1"), startTestWitness(t, "witness.test/w2")
	dir, origin, vkey := newLogDir(t)
	for _, w := range []*testWitness{w1, w2} {
		if err := witness.AddLog(w.dir, origin, vkey); err != nil {
			t.Fatal(err)
		}
	}
	both := "witness w1 " + w1.vkey + " " + w1.url + "\nwitness w2 " + w2.vkey + " " + w2.url + "\ngroup both all w1 w2\nquorum both\n"
	env := testreg.Start(t, testreg.Options{Dir: dir, SQLite: true, WitnessPolicy: witnessPolicy(t, both)})
	c := env.ClientWith(client.Options{WitnessPolicy: witnessPolicy(t, both)})
	var rc *client.Receipt
	for i := 0; i < 5; i++ {
		rc = register(t, c)
	}
	got := cosigners(t, rc.Checkpoint.Note, w1, w2)
	if len(got) != 2 {
		t.Fatalf("the receipt's checkpoint is cosigned by %v", got)
	}
	cp := logCheckpoint(t, env.URL)
	if got := cosigners(t, cp, w1, w2); len(got) != 2 {
		t.Fatalf("/log/checkpoint is cosigned by %v:\n%s", got, cp)
	}
	held, err := c.Held()
	if err != nil || cosigners(t, held.Note, w1, w2) == nil {
		t.Fatalf("the held checkpoint lost its cosignatures: %v", err)
	}
	if _, _, err := c.Package(context.Background(), "no/such", client.At{}); !client.IsCode(err, "unknown_package") {
		t.Fatalf("a read through the witnessed checkpoint: %v", err)
	}
	st := status(t, env.URL)
	if len(st.Witnesses) != 2 || st.WitnessedSize < rc.Index+1 || st.Witnesses[0].Size == 0 || len(st.Alarms) != 0 {
		t.Fatalf("status: %+v", st)
	}
	ms := testreg.Scrape(t, env.URL)
	for _, w := range []string{"w1", "w2"} {
		if v, ok := ms.Value("vouch_witness_lag_entries", "witness", w); !ok || v > float64(env.Reg.Latest().Size) {
			t.Errorf("vouch_witness_lag_entries of %s = %v (present: %v)", w, v, ok)
		}
		if v, _ := ms.Value("vouch_witness_last_success_timestamp_seconds", "witness", w); v < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("vouch_witness_last_success_timestamp_seconds of %s = %v", w, v)
		}
		if v, ok := ms.Value("vouch_witness_alarm", "witness", w); !ok || v != 0 {
			t.Errorf("vouch_witness_alarm of %s = %v (present: %v)", w, v, ok)
		}
	}
	if v, _ := ms.Value("vouch_db_transaction_seconds", "kind", "witness"); v < 1 {
		t.Errorf("%v witnessed checkpoints recorded in timed transactions", v)
	}
	env.Stop()

	// One of two: w2 goes away, and the registry goes on with w1 alone.
	w2.srv.Close()
	oneOfTwo := "witness w1 " + w1.vkey + " " + w1.url + "\nwitness w2 " + w2.vkey + " " + w2.url + "\ngroup one 1 w1 w2\nquorum one\n"
	env = testreg.Start(t, testreg.Options{Dir: dir, SQLite: true, WitnessPolicy: witnessPolicy(t, oneOfTwo)})
	c = env.ClientWith(client.Options{WitnessPolicy: witnessPolicy(t, oneOfTwo)})
	rc = register(t, c)
	if got := cosigners(t, rc.Checkpoint.Note, w1, w2); len(got) != 1 || got[0] != "witness.test/w1" {
		t.Fatalf("with w2 down, the checkpoint is cosigned by %v", got)
	}
	st = status(t, env.URL)
	if st.Witnesses[1].LastError == "" {
		t.Fatalf("status shows no error for the witness that is down: %+v", st.Witnesses)
	}
	// A client that needs both refuses it, and names the one missing.
	strict := env.ClientWith(client.Options{WitnessPolicy: witnessPolicy(t, both)})
	_, _, err = strict.Checkpoint(context.Background())
	var qe *cosign.QuorumError
	if !errors.As(err, &qe) || !strings.Contains(err.Error(), "missing w2 (witness.test/w2)") {
		t.Fatalf("a client needing both witnesses: %v", err)
	}
}

// TestSplitViewIsCaught runs two registries that hold the same log key but
// different histories, both submitting to one witness: the witness cosigns
// one history only, the other registry raises an alarm (status and log),
// and a client with the policy refuses the other history's checkpoints.
func TestSplitViewIsCaught(t *testing.T) {
	w := startTestWitness(t, "witness.test/split")
	dirA, origin, vkey := newLogDir(t)
	if err := witness.AddLog(w.dir, origin, vkey); err != nil {
		t.Fatal(err)
	}
	pol := "witness w " + w.vkey + " " + w.url + "\nquorum w\n"
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := testreg.Start(t, testreg.Options{Dir: dirA, SQLite: true, WitnessPolicy: witnessPolicy(t, pol), Logger: quiet})
	register(t, a.ClientWith(client.Options{WitnessPolicy: witnessPolicy(t, pol)}))
	a.Stop()
	// B is a copy of A that goes on to write other entries under the same
	// key: the attacker's second history.
	dirB := filepath.Join(t.TempDir(), "b")
	copyDir(t, dirA, dirB)
	os.Remove(filepath.Join(dirB, "LOCK"))
	a = testreg.Start(t, testreg.Options{Dir: dirA, SQLite: true, WitnessPolicy: witnessPolicy(t, pol), Logger: quiet})
	aHome := t.TempDir()
	ca := a.ClientWith(client.Options{WitnessPolicy: witnessPolicy(t, pol), Home: aHome})
	for i := 0; i < 3; i++ {
		register(t, ca)
	}
	b := testreg.Start(t, testreg.Options{Dir: dirB, SQLite: true, Logger: quiet})
	for i := 0; i < 6; i++ {
		register(t, b.Client())
	}
	b.Stop()

	// B asks the witness to cosign its history: it is refused, and B
	// raises the alarm in its status and its log.
	var logs syncBuffer
	b = testreg.Start(t, testreg.Options{Dir: dirB, SQLite: true, WitnessPolicy: witnessPolicy(t, pol), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := b.Reg.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Alarms) > 0 {
			t.Logf("the forked registry's alarm: %s", st.Alarms[0])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alarm on the forked registry; status %+v\nlog:\n%s", st, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "ALARM") {
		t.Fatalf("the forked registry did not log the alarm:\n%s", logs.String())
	}
	if got := status(t, b.URL); len(got.Alarms) == 0 {
		t.Fatalf("/api/v1/status shows no alarm: %+v", got)
	}
	if v, ok := testreg.Scrape(t, b.URL).Value("vouch_witness_alarm", "witness", "w"); v != 1 {
		t.Fatalf("vouch_witness_alarm on the forked registry = %v (present: %v)", v, ok)
	}
	// The witness went on cosigning A's history.
	register(t, ca)
	if got := cosigners(t, logCheckpoint(t, a.URL), w); len(got) != 1 {
		t.Fatalf("A's checkpoint is cosigned by %v", got)
	}
	b.Stop()

	// B serving its history unwitnessed: a client with the policy refuses
	// it, naming the witness whose cosignature is missing; a client that
	// holds A's checkpoint refuses it as a fork too.
	b = testreg.Start(t, testreg.Options{Dir: dirB, SQLite: true, Logger: quiet})
	_, _, err := b.ClientWith(client.Options{WitnessPolicy: witnessPolicy(t, pol)}).Checkpoint(context.Background())
	var qe *cosign.QuorumError
	if !errors.As(err, &qe) || !strings.Contains(err.Error(), "missing w (witness.test/split)") {
		t.Fatalf("a client with the policy, reading the other history: %v", err)
	}
	_, _, err = b.ClientWith(client.Options{WitnessPolicy: witnessPolicy(t, pol), Home: aHome}).Checkpoint(context.Background())
	if err == nil {
		t.Fatal("a client holding A's witnessed checkpoint accepted B's history")
	}
	t.Logf("a client holding A's checkpoint, reading B: %v", err)
	// Even without the policy, the checkpoint it holds is enough to see
	// the fork.
	_, _, err = b.ClientWith(client.Options{Home: aHome}).Checkpoint(context.Background())
	var fe *client.ForkError
	if !errors.As(err, &fe) {
		t.Fatalf("a client holding A's checkpoint, without the policy, reading B: %v", err)
	}
}

// syncBuffer is a log buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWitnessCommands runs the commands an operator would: vouch witness
// serve and add-log, and vouch serve --witness-policy; the registry's
// /log/checkpoint then carries the witness's cosignature, and the CLI's
// --witness-policy verifies it.
func TestWitnessCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	wdir, data := t.TempDir(), filepath.Join(t.TempDir(), "data")
	d, err := datadir.Open(data, datadir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	out, err := exec.Command(vouchBin, "witness", "add-log", "--data", wdir, "--origin", d.Config.Origin,
		"--vkey", filepath.Join(data, datadir.LogVKeyFile)).CombinedOutput()
	if err != nil {
		t.Fatalf("witness add-log: %v\n%s", err, out)
	}
	wp := startVouch(t, "witness", "serve", "--data", wdir, "--name", "witness.test/cli", "--addr", "127.0.0.1:0")
	vkey, err := os.ReadFile(filepath.Join(wdir, witness.VKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	polFile := filepath.Join(t.TempDir(), "policy")
	os.WriteFile(polFile, []byte("# the one witness\nwitness w "+strings.TrimSpace(string(vkey))+" "+wp.URL+"\nquorum w\n"), 0o644)
	rp := startServe(t, data, "--witness-policy", polFile, "--witness-interval", "50ms")
	deadline := time.Now().Add(20 * time.Second)
	w := &testWitness{vkey: strings.TrimSpace(string(vkey))}
	for cp := logCheckpoint(t, rp.URL); !translog.LooksLikeCheckpoint(cp) || len(cosigners(t, cp, w)) == 0; cp = logCheckpoint(t, rp.URL) {
		if time.Now().After(deadline) {
			t.Fatalf("no cosigned checkpoint:\n%s", logCheckpoint(t, rp.URL))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd := exec.Command(vouchBin, "log", "checkpoint", "--registry", rp.URL, "--log-key", filepath.Join(data, datadir.LogVKeyFile),
		"--witness-policy", polFile)
	cmd.Env = append(os.Environ(), "VOUCH_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vouch log checkpoint --witness-policy: %v\n%s", err, out)
	}
}
