package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/translog"
)

// testLog is a small log kept in memory, signed with a note key, for
// making add-checkpoint requests by hand.
type testLog struct {
	signer note.Signer
	vkey   string
	hashes map[int64]tlog.Hash
	size   int64
	salt   string
}

func newTestLog(t *testing.T, origin string) *testLog {
	skey, vkey, err := note.GenerateKey(nil, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	return &testLog{signer: s, vkey: vkey, hashes: map[int64]tlog.Hash{}}
}

func (l *testLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = l.hashes[x]
	}
	return out, nil
}

// grow appends n leaves and returns the signed checkpoint of the new tree.
func (l *testLog) grow(t *testing.T, n int) []byte {
	var lh []tlog.Hash
	for i := 0; i < n; i++ {
		lh = append(lh, tlog.RecordHash([]byte(fmt.Sprintf("%s leaf %d", l.salt, l.size+int64(i)))))
	}
	stored, root, err := translog.Integrate(l.size, lh, l)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range stored {
		l.hashes[h.Index] = h.Hash
	}
	l.size += int64(n)
	cp, err := translog.Sign(l.signer, uint64(l.size), root)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func (l *testLog) proof(t *testing.T, from int64) tlog.TreeProof {
	if from == 0 || from == l.size {
		return nil
	}
	p, err := tlog.ProveTree(l.size, from, l)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func body(old uint64, proof tlog.TreeProof, cp []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(cp)
	return b.Bytes()
}

func post(t *testing.T, url string, b []byte) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), resp.Header
}

func startWitness(t *testing.T, dir string) (*Witness, string) {
	t.Helper()
	w, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return w, srv.URL
}

// checkCosigned checks that sigs are the witness's valid cosignature of
// cp, with the formats library's cosignature/v1 verifier.
func checkCosigned(t *testing.T, vkey string, cp []byte, sigs string) {
	t.Helper()
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(append(bytes.Clone(cp), sigs...), note.VerifierList(v))
	if err != nil || len(n.Sigs) != 1 {
		t.Fatalf("the answer is not a valid cosignature: %v\n%s", err, sigs)
	}
	ts, err := fnote.CoSigV1Timestamp(n.Sigs[0])
	if err != nil || time.Since(ts) > time.Minute {
		t.Fatalf("cosignature timestamp %v, %v", ts, err)
	}
}

// TestEveryRefusal sends every request the specification says a witness
// refuses, and every one it accepts, including after a restart.
func TestEveryRefusal(t *testing.T) {
	dir := t.TempDir()
	vkey, err := Init(dir, "witness.test/w1")
	if err != nil {
		t.Fatal(err)
	}
	l := newTestLog(t, "example.test/log")
	if err := AddLog(dir, "example.test/log", l.vkey); err != nil {
		t.Fatal(err)
	}
	if err := AddLog(dir, "example.test/log", l.vkey); err != nil {
		t.Fatalf("adding the same log again: %v", err)
	}
	if err := AddLog(dir, "example.test/log", newTestLog(t, "example.test/log").vkey); err == nil {
		t.Fatal("a log's key was replaced")
	}
	w, url := startWitness(t, dir)
	if w.VKey() != vkey {
		t.Fatalf("vkey %q, want %q", w.VKey(), vkey)
	}
	cp5 := l.grow(t, 5)

	stranger := newTestLog(t, "example.test/stranger")
	impostor := newTestLog(t, "example.test/log") // the same origin, another key
	impostorCP := impostor.grow(t, 5)
	cases := []struct {
		name   string
		body   []byte
		status int
	}{
		{"no empty line", []byte("old 0\n" + string(cp5)), 400},
		{"no old line", body(0, nil, cp5)[4:], 400},
		{"old with a leading zero", []byte("old 00\n\n" + string(cp5)), 400},
		{"old not a number", []byte("old five\n\n" + string(cp5)), 400},
		{"proof line not base64", []byte("old 0\nnot base64!\n\n" + string(cp5)), 400},
		{"64 proof lines", body(3, make(tlog.TreeProof, 64), cp5), 400},
		{"old beyond the checkpoint", body(9, nil, cp5), 400},
		{"a proof from size 0", body(0, make(tlog.TreeProof, 1), cp5), 400},
		{"unknown log", body(0, nil, stranger.grow(t, 1)), 404},
		{"another key for the origin", body(0, nil, impostorCP), 403},
		{"garbage checkpoint", body(0, nil, []byte("example.test/log\nfive\n\n— x y\n")), 400},
	}
	for _, c := range cases {
		if st, b, _ := post(t, url, c.body); st != c.status {
			t.Errorf("%s: %d %q, want %d", c.name, st, b, c.status)
		}
	}
	// The first checkpoint (from size 0), then a consistent one.
	st, sigs, _ := post(t, url, body(0, nil, cp5))
	if st != 200 {
		t.Fatalf("first checkpoint: %d %s", st, sigs)
	}
	checkCosigned(t, vkey, cp5, sigs)
	cp9 := l.grow(t, 4)
	// A stale old size: 409 with the witness's size, as text/x.tlog.size.
	st, b, h := post(t, url, body(0, nil, cp9))
	if st != 409 || b != "5\n" || h.Get("Content-Type") != "text/x.tlog.size" {
		t.Fatalf("stale old size: %d %q %v", st, b, h.Get("Content-Type"))
	}
	// A proof that does not verify: 422.
	bad := l.proof(t, 5)
	bad[0][0] ^= 1
	if st, b, _ := post(t, url, body(5, bad, cp9)); st != 422 {
		t.Fatalf("bad proof: %d %s", st, b)
	}
	st, sigs, _ = post(t, url, body(5, l.proof(t, 5), cp9))
	if st != 200 {
		t.Fatalf("consistent checkpoint: %d %s", st, sigs)
	}
	checkCosigned(t, vkey, cp9, sigs)
	// The same checkpoint again is cosigned again; another root at that
	// size is a 409.
	if st, _, _ := post(t, url, body(9, nil, cp9)); st != 200 {
		t.Fatalf("resubmitted checkpoint: %d", st)
	}
	fork := newTestLog(t, "example.test/log")
	fork.signer, fork.salt = l.signer, "fork"
	forkCP := fork.grow(t, 9)
	if st, b, _ := post(t, url, body(9, nil, forkCP)); st != 409 || b != "9\n" {
		t.Fatalf("a fork of the same size: %d %q", st, b)
	}

	// After a restart the witness remembers: size 9, and the fork is
	// still refused at any size.
	w2, url2 := startWitness(t, dir)
	_ = w2
	if st, b, _ := post(t, url2, body(5, l.proof(t, 5), cp9)); st != 409 || b != "9\n" {
		t.Fatalf("after a restart, old 5: %d %q", st, b)
	}
	forkCP = fork.grow(t, 3)
	if st, b, _ := post(t, url2, body(9, fork.proof(t, 9), forkCP)); st != 422 {
		t.Fatalf("after a restart, a fork's proof: %d %s", st, b)
	}
	cp12 := l.grow(t, 3)
	st, sigs, _ = post(t, url2, body(9, l.proof(t, 9), cp12))
	if st != 200 {
		t.Fatalf("after a restart, the log goes on: %d %s", st, sigs)
	}
	checkCosigned(t, vkey, cp12, sigs)
	if st, _, _ := post(t, url2, body(9, l.proof(t, 9), cp12)); st != 409 {
		t.Fatalf("a checkpoint cosigned twice from a stale size: %d", st)
	}
	resp, _ := http.Get(url2 + "/add-checkpoint")
	if resp.StatusCode != 405 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

// TestWitnessesATesseraLog has Tessera's own POSIX log, with its own
// witnessing client, get its checkpoints cosigned by this witness: the
// log publishes a checkpoint only once the policy (this one witness) is
// satisfied, so every published checkpoint carries our cosignature.
func TestWitnessesATesseraLog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	vkey, err := Init(filepath.Join(dir, "witness"), "witness.test/tessera-friend")
	if err != nil {
		t.Fatal(err)
	}
	skey, logVKey, err := note.GenerateKey(nil, "example.test/tessera")
	if err != nil {
		t.Fatal(err)
	}
	if err := AddLog(filepath.Join(dir, "witness"), "example.test/tessera", logVKey); err != nil {
		t.Fatal(err)
	}
	_, url := startWitness(t, filepath.Join(dir, "witness"))
	group, err := tessera.NewWitnessGroupFromPolicy([]byte("witness w1 " + vkey + " " + url + "\nquorum w1\n"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	driver, err := posix.New(ctx, posix.Config{Path: filepath.Join(dir, "log")})
	if err != nil {
		t.Fatal(err)
	}
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, tessera.NewAppendOptions().
		WithCheckpointSigner(signer).WithBatching(64, 20*time.Millisecond).WithCheckpointInterval(100*time.Millisecond).
		WithWitnesses(group, &tessera.WitnessOptions{Timeout: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(ctx)
	awaiter := tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, 50*time.Millisecond)
	wv, _ := fnote.NewVerifierForCosignatureV1(vkey)
	lv, _ := note.NewVerifier(logVKey)
	for round := 0; round < 3; round++ {
		var futures []tessera.IndexFuture
		for i := 0; i < 20; i++ {
			futures = append(futures, appender.Add(ctx, tessera.NewEntry([]byte(fmt.Sprintf("round %d entry %d", round, i)))))
		}
		var last []byte
		for _, f := range futures {
			_, cp, err := awaiter.Await(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			last = cp
		}
		n, err := note.Open(last, note.VerifierList(lv, wv))
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, s := range n.Sigs {
			names[s.Name] = true
		}
		if !names["example.test/tessera"] || !names["witness.test/tessera-friend"] {
			t.Fatalf("round %d: the published checkpoint is signed by %v", round, names)
		}
		size, _ := strconv.Atoi(strings.Split(n.Text, "\n")[1])
		t.Logf("round %d: checkpoint of size %d cosigned", round, size)
	}
	// What the witness recorded is the log's latest checkpoint size.
	b, err := os.ReadFile(logPath(filepath.Join(dir, "witness"), "example.test/tessera"))
	if err != nil || !strings.Contains(string(b), `"size": 60`) {
		t.Fatalf("the witness's record: %s %v", b, err)
	}
}
