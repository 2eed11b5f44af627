package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vouchdev/vouch/audit"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/vindex"
)

// omitter is an HTTP proxy in front of a registry that, when told to,
// rewrites its JSON answers to leave one thing out, the way a compromised
// registry or a machine in the middle would: every inclusion proof of
// what it still shows verifies.
type omitter struct {
	target *url.URL
	mu     sync.Mutex
	edit   func(path string, doc map[string]any) // nil: pass through
}

func (o *omitter) set(edit func(path string, doc map[string]any)) {
	o.mu.Lock()
	o.edit = edit
	o.mu.Unlock()
}

func (o *omitter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, o.target.String()+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	o.mu.Lock()
	edit := o.edit
	o.mu.Unlock()
	status := resp.StatusCode
	if edit != nil && strings.HasPrefix(r.URL.Path, "/api/") && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		var doc map[string]any
		if json.Unmarshal(body, &doc) == nil {
			edit(r.URL.Path, doc)
			if s, ok := doc["_status"].(float64); ok {
				status = int(s)
				delete(doc, "_status")
			}
			body, _ = json.Marshal(doc)
		}
	}
	for k, v := range resp.Header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(status)
	w.Write(body)
}

// releasesOf returns a package answer's releases.
func releasesOf(doc map[string]any) []any {
	rels, _ := doc["releases"].([]any)
	return rels
}

// TestCompleteAnswers runs a registry behind a proxy that leaves out one
// thing at a time (a yank, a tombstone, one attestation of several, the
// proof itself): the client library, vouch show and vouch verify catch
// each omission, while the honest answers verify. Without the proofs, the
// proxy that drops the "do not ship" statement makes vouch verify pass a
// policy that denies it: the attack the index stops.
func TestCompleteAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	ctx := context.Background()
	env := testreg.Start(t, testreg.Options{})
	owner, builder, qa, sec := env.Key(keys.Ed25519), env.Key(keys.Ed25519), env.Key(keys.ECDSAP256), env.Key(keys.Ed25519)
	l := &lc{t: t, env: env, c: env.Client(), pkg: "acme/complete", owner: owner}
	env.Must(&record.Record{Type: record.TypeCreate, Package: l.pkg, Owners: []string{owner.ID()}}, owner)
	var digests []string
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		body := []byte("complete content " + v)
		digests = append(digests, l.upload(body))
		l.release(v, body, "published", owner)
	}
	if _, err := attest(t, l.c, statement(predicate.SLSAProvenanceV1, slsa, digests[0]), nil, builder); err != nil {
		t.Fatal(err)
	}
	if _, err := attest(t, l.c, statement(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa"}, digests[0]), nil, qa); err != nil {
		t.Fatal(err)
	}
	if _, err := attest(t, l.c, statement(predicate.Approval, map[string]any{"decision": "rejected", "scope": "security"}, digests[0]), nil, sec); err != nil {
		t.Fatal(err)
	}
	l.must(record.ChainPackage, &record.Record{Type: record.TypeYank, Version: "1.1.0", Reason: "broken"}, owner)
	l.must(record.ChainOperator, &record.Record{Type: record.TypeTombstone, Version: "1.2.0", Reason: "malware"}, env.Operator)

	target, _ := url.Parse(env.URL)
	proxy := &omitter{target: target}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	through := func() *client.Client {
		c, err := client.New(ps.URL, client.Options{LogKey: env.Verifier, Home: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	logKey := filepath.Join(env.Dir, datadir.LogVKeyFile)
	policy := filepath.Join(t.TempDir(), "no-rejections.yaml")
	os.WriteFile(policy, []byte(`require:
  - name: published
    rule: release.status == "published"
deny:
  - name: rejected
    rule: attestations.exists(a, a.predicateType == "https://vouch.dev/attestations/approval/v1" && a.fields.decision == "rejected")
    message: someone said do not ship
`), 0o644)
	cli := func(args ...string) (string, error) {
		out, err := vouchCmd(t.TempDir(), append(args, "--registry", ps.URL, "--log-key", logKey)...).CombinedOutput()
		return string(out), err
	}

	// Honest answers verify, with their proofs.
	c := through()
	p, _, err := c.Package(ctx, l.pkg, client.At{Include: "all", Complete: true})
	if err != nil || versions(p) != "1.0.0=published 1.1.0=yanked 1.2.0=tombstoned" {
		t.Fatalf("the honest package answer: %v %v", versions(p), err)
	}
	ev, err := c.Gather(ctx, l.pkg, "1.0.0", client.At{Complete: true})
	if err != nil || len(ev.Attestations) != 3 {
		t.Fatalf("the honest evidence: %+v %v", ev, err)
	}
	if _, _, err := c.Query(ctx, &client.QueryParams{Signer: qa.ID(), Limit: 1, At: client.At{Complete: true}}); err != nil {
		t.Fatalf("a page of the honest signer query: %v", err)
	}
	if out, err := cli("show", l.pkg, "--include", "all"); err != nil || !strings.Contains(out, "1.2.0") {
		t.Fatalf("vouch show, honest: %v\n%s", err, out)
	}
	if out, err := cli("verify", l.pkg+"@1.0.0", "--policy", policy); err == nil || !strings.Contains(out, "someone said do not ship") {
		t.Fatalf("vouch verify, honest, must fail on the rejection: %v\n%s", err, out)
	}

	// One omission at a time.
	dropRejection := func(path string, doc map[string]any) {
		if path != "/api/v1/query" {
			return
		}
		items, _ := doc["items"].([]any)
		var kept []any
		for _, it := range items {
			if signers, _ := it.(map[string]any)["signers"].([]any); len(signers) == 1 && signers[0] == sec.ID() {
				continue
			}
			kept = append(kept, it)
		}
		doc["items"] = kept
	}
	hideYank := func(path string, doc map[string]any) {
		if strings.HasSuffix(path, "/versions/1.1.0") {
			doc["status"] = "published"
			delete(doc, "yankedBy")
			delete(doc, "reason")
		}
		for _, r := range releasesOf(doc) {
			if m := r.(map[string]any); m["version"] == "1.1.0" {
				m["status"] = "published"
			}
		}
		if doc["latest"] != nil {
			doc["latest"] = "1.1.0"
		}
	}
	hideTombstone := func(path string, doc map[string]any) {
		var kept []any
		for _, r := range releasesOf(doc) {
			if r.(map[string]any)["version"] != "1.2.0" {
				kept = append(kept, r)
			}
		}
		if doc["releases"] != nil {
			doc["releases"] = kept
		}
	}
	hidePackage := func(path string, doc map[string]any) {
		if path == "/api/v1/packages/"+l.pkg || path == "/api/v1/packages/acme%2Fcomplete" {
			for k := range doc {
				if k != "checkpoint" && k != "complete" && k != "treeSize" {
					delete(doc, k)
				}
			}
			doc["error"] = map[string]any{"code": "unknown_package", "message": "package " + l.pkg + " does not exist"}
			doc["_status"] = 404.0
		}
	}
	stripProof := func(path string, doc map[string]any) {
		delete(doc, "complete")
		dropRejection(path, doc)
	}
	for _, tc := range []struct {
		name string
		edit func(string, map[string]any)
		read func(c *client.Client) error
		cli  []string
	}{
		{"one attestation of several", dropRejection, func(c *client.Client) error {
			_, err := c.Gather(ctx, l.pkg, "1.0.0", client.At{Complete: true})
			return err
		}, []string{"verify", l.pkg + "@1.0.0", "--policy", policy}},
		{"a yank", hideYank, func(c *client.Client) error {
			_, _, err := c.Release(ctx, l.pkg, "1.1.0", client.At{Complete: true})
			return err
		}, []string{"show", l.pkg + "@1.1.0"}},
		{"a yank, from the package", hideYank, func(c *client.Client) error {
			_, _, err := c.Package(ctx, l.pkg, client.At{Include: "all", Complete: true})
			return err
		}, []string{"verify", l.pkg + "@1.1.0"}},
		{"a tombstone", hideTombstone, func(c *client.Client) error {
			_, _, err := c.Package(ctx, l.pkg, client.At{Include: "all", Complete: true})
			return err
		}, []string{"show", l.pkg, "--include", "all"}},
		{"the package itself", hidePackage, func(c *client.Client) error {
			_, _, err := c.Package(ctx, l.pkg, client.At{Complete: true})
			return err
		}, []string{"show", l.pkg}},
		{"the proof", stripProof, func(c *client.Client) error {
			_, err := c.Gather(ctx, l.pkg, "1.0.0", client.At{Complete: true})
			return err
		}, []string{"verify", l.pkg + "@1.0.0", "--policy", policy}},
	} {
		proxy.set(tc.edit)
		var ie *client.IncompleteError
		if err := tc.read(through()); !errors.As(err, &ie) {
			t.Errorf("%s left out: the library said %v", tc.name, err)
		}
		if out, err := cli(tc.cli...); err == nil || !strings.Contains(out, "not complete") {
			t.Errorf("%s left out: vouch %s said (%v)\n%s", tc.name, tc.cli[0], err, out)
		}
	}

	// An honest "no such package" is proven too.
	proxy.set(nil)
	if _, _, err := through().Package(ctx, "acme/nothing", client.At{Complete: true}); !client.IsCode(err, "unknown_package") {
		t.Fatalf("an honest 404: %v", err)
	}

	// Without the proofs, dropping the rejection passes the policy: this
	// is what the index is for.
	proxy.set(dropRejection)
	if out, err := cli("verify", l.pkg+"@1.0.0", "--policy", policy, "--no-complete"); err != nil || bytes.Contains([]byte(out), []byte("do not ship")) {
		t.Fatalf("without proofs the omission should go unseen: %v\n%s", err, out)
	}
}

// TestAuditCatchesTamperedIndexRoot has a registry commit to a false index
// root (a valid entry, written below the state machine with the index root
// left as it was): vouch audit, which rebuilds the index from the log and
// checks the root of every checkpoint, names that checkpoint.
func TestAuditCatchesTamperedIndexRoot(t *testing.T) {
	ctx := context.Background()
	env := testreg.Start(t, testreg.Options{SQLite: true})
	c := env.Client()
	for range 5 {
		register(t, c)
	}
	home := t.TempDir()
	auditOnce := func() *audit.Report {
		rep, err := audit.Run(ctx, audit.Options{Client: env.ClientAt(home), LogURL: env.URL, StateFile: filepath.Join(home, "audit.json")}, env.Verifier)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := auditOnce(); !rep.OK() || rep.IndexRoots == 0 {
		t.Fatalf("clean log: %+v", rep)
	}
	k := newKey(t, keys.Ed25519)
	sub := sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k)
	// The new key's list is left out of the index.
	size := appendBelow(t, env, sub, storeEntryRow{Kind: "record", Type: "identity", Signers: []string{k.ID()}}) + 1
	waitFor(t, func() bool { cp := env.Reg.Latest(); return cp.Size >= size })
	rep := auditOnce()
	if rep.Violation == nil || rep.Violation.Code != "index_root" || rep.Violation.Index != size-1 {
		t.Fatalf("audit of a false index root: %+v", rep)
	}
}

// appendBelow writes the signed record sub as the next log entry straight
// into env's store, below the state machine, with the index left as it
// was (what a registry writing below its state machine would do), and
// returns its index. row gives the entry's index fields.
func appendBelow(t *testing.T, env *testreg.Env, sub *client.Submission, row storeEntryRow) uint64 {
	t.Helper()
	ctx := context.Background()
	b, _ := json.Marshal(sub.Envelope)
	e, payload, err := record.ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := record.NewRecordEntry(e, payload)
	if err != nil {
		t.Fatal(err)
	}
	err = env.Store.Sequence(ctx, func(tx storeSeqTx) error {
		h := tx.Head()
		if row.Leaf, err = entry.Leaf(time.Now()); err != nil {
			return err
		}
		row.Index, row.Time = h.Sequenced, entry.Time // the leaf's log time
		if err := tx.Append(&row, nil, nil); err != nil {
			return err
		}
		root, err := env.Reg.IndexRoot(ctx, h.Sequenced)
		if err != nil {
			return err
		}
		return putStaleIndex(tx, h.Sequenced, h.Sequenced+1, root)
	})
	if err != nil {
		t.Fatal(err)
	}
	return row.Index
}

// putStaleIndex writes, as the index's version at tree size size, its
// version at prev unchanged: what a registry that writes below its state
// machine would leave.
func putStaleIndex(tx storeSeqTx, prev, size uint64, root [32]byte) error {
	// An update that sets no key writes only the root, as it was.
	_, rows, err := vindex.NewUpdate(txNodes{tx}, nil, prev, false).Apply(context.Background(), size)
	if err != nil {
		return err
	}
	nodes := make([]store.IndexNode, len(rows))
	for i, r := range rows {
		nodes[i] = store.IndexNode{Key: r.Key, Node: r.Node}
	}
	return tx.PutIndex(size, nodes, root[:])
}

// txNodes reads index nodes in a sequencing transaction.
type txNodes struct{ tx storeSeqTx }

func (n txNodes) Nodes(_ context.Context, keys [][]byte) (map[string][]byte, error) {
	return n.tx.IndexNodes(keys)
}
