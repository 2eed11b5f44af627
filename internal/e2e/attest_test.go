package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// statement builds an in-toto Statement v1 about the given digests.
func statement(ptype string, pred any, digests ...string) []byte {
	var subj []any
	for i, d := range digests {
		subj = append(subj, map[string]any{"name": fmt.Sprintf("artifact-%d", i), "digest": map[string]string{"sha256": strings.TrimPrefix(d, "sha256:")}})
	}
	b, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": subj, "predicateType": ptype, "predicate": pred})
	return b
}

func attest(t *testing.T, c *client.Client, payload []byte, hints []string, signers ...*keys.PrivateKey) (*client.Receipt, error) {
	t.Helper()
	env, err := record.Sign(record.InTotoPayloadType, payload, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return c.Submit(context.Background(), &client.Submission{Envelope: env, Signers: hints}, true)
}

var slsa = map[string]any{
	"buildDefinition": map[string]any{"buildType": "https://example.com/build/v1", "externalParameters": map[string]any{}},
	"runDetails":      map[string]any{"builder": map[string]any{"id": "https://ci.example.com/builder"}},
}

// sslibSigner signs with go-securesystemslib's own signer implementations,
// as a third-party tool would: its signatures carry sslib key IDs, not ours.
func sslibSigner(t *testing.T, k *keys.PrivateKey) dsse.SignerVerifier {
	t.Helper()
	pkcs8, _ := k.PEM()
	pub := string(k.Public().PEM())
	switch k.Public().Type() {
	case keys.Ed25519:
		priv := k.Ed25519()
		sk := &signerverifier.SSLibKey{KeyID: "sslib-" + k.ID()[7:19], KeyType: signerverifier.ED25519KeyType, Scheme: signerverifier.ED25519KeyType,
			KeyVal: signerverifier.KeyVal{Public: hex.EncodeToString(priv.Public().(ed25519.PublicKey)), Private: hex.EncodeToString(priv)}}
		sv, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(sk)
		if err != nil {
			t.Fatal(err)
		}
		return sv
	default:
		sk := &signerverifier.SSLibKey{KeyID: "sslib-" + k.ID()[7:19], KeyType: signerverifier.ECDSAKeyType, Scheme: signerverifier.ECDSAKeyScheme,
			KeyVal: signerverifier.KeyVal{Public: pub, Private: string(pkcs8)}}
		sv, err := signerverifier.NewECDSASignerVerifierFromSSLibKey(sk)
		if err != nil {
			t.Fatal(err)
		}
		return sv
	}
}

// TestAttestations covers multi-signer envelopes, envelopes made by
// go-securesystemslib's own signers, bad and revoked signers, subjects that
// are not releases here, the size limit, replays, predicate checks, typed
// fields, and point-in-time answers that change as attestations and yanks
// are added.
func TestAttestations(t *testing.T) {
	clk := &clock{}
	env := testreg.Start(t, testreg.Options{Now: clk.now, MaxAttestationSize: 64 << 10})
	l := &lc{t: t, env: env, clk: clk, c: env.Client(), pkg: "acme/widget"}
	l.owner = env.Key(keys.Ed25519)
	env.Must(&record.Record{Type: record.TypeCreate, Package: l.pkg, Owners: []string{l.owner.ID()}}, l.owner)
	content := []byte("widget 1.0.0 bytes")
	d := l.upload(content)
	l.release("1.0.0", content, "published", l.owner)
	ctx := context.Background()
	builder, qa1, qa2 := env.Key(keys.Ed25519), env.Key(keys.ECDSAP256), env.Key(keys.Ed25519)

	// A multi-signer envelope: both signatures checked and recorded.
	rc, err := attest(t, l.c, statement(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa"}, d), nil, qa1, qa2)
	if err != nil {
		t.Fatal(err)
	}
	sizeAfterApproval := rc.Checkpoint.Size
	// A replay of the same statement by the same signers is refused.
	if _, err := attest(t, l.c, statement(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa"}, d), nil, qa2, qa1); !client.IsCode(err, "conflict") {
		t.Fatalf("replay: %v", err)
	}
	// One bad signature among good ones refuses the whole envelope.
	envl, _ := record.Sign(record.InTotoPayloadType, statement(predicate.SLSAProvenanceV1, slsa, d), builder, qa1)
	envl.Signatures[1].Sig = envl.Signatures[0].Sig
	if _, err := l.c.Submit(ctx, &client.Submission{Envelope: envl}, true); !client.IsCode(err, "bad_signature") {
		t.Fatalf("one bad signature: %v", err)
	}
	// Envelopes made by go-securesystemslib's own signers, unchanged.
	for _, k := range []*keys.PrivateKey{builder, qa1} {
		es, err := dsse.NewEnvelopeSigner(sslibSigner(t, k))
		if err != nil {
			t.Fatal(err)
		}
		third, err := es.SignPayload(ctx, record.InTotoPayloadType, statement(predicate.SLSAProvenanceV1, slsa, d))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(third.Signatures[0].KeyID, "sslib-") {
			t.Fatalf("third-party keyid %q", third.Signatures[0].KeyID)
		}
		if _, err := l.c.Submit(ctx, &client.Submission{Envelope: third}, true); !client.IsCode(err, "unknown_key") {
			t.Fatalf("third-party envelope without a signer hint: %v", err)
		}
		stranger := newKey(t, keys.Ed25519)
		if _, err := l.c.Submit(ctx, &client.Submission{Envelope: third, Signers: []string{stranger.ID()}}, true); !client.IsCode(err, "unknown_key") {
			t.Fatalf("third-party envelope with a wrong hint: %v", err)
		}
		if _, err := l.c.Submit(ctx, &client.Submission{Envelope: third, Signers: []string{qa2.ID(), k.ID()}}, true); err != nil {
			t.Fatalf("third-party %s envelope: %v", k.Public().Type(), err)
		}
	}
	// A subject that is not a release's content in this registry.
	if _, err := attest(t, l.c, statement(predicate.SLSAProvenanceV1, slsa, digestOf([]byte("elsewhere"))), nil, builder); !client.IsCode(err, "unknown_subject") {
		t.Fatalf("foreign subject: %v", err)
	}
	// A statement over the size limit.
	big := map[string]any{"decision": "approved", "scope": "qa", "comment": strings.Repeat("x", 70<<10)}
	if _, err := attest(t, l.c, statement(predicate.Approval, big, d), nil, qa1); !client.IsCode(err, "too_large") {
		t.Fatalf("oversized statement: %v", err)
	}
	// Vouch predicates are checked.
	if _, err := attest(t, l.c, statement(predicate.Approval, map[string]any{"decision": "maybe", "scope": "qa"}, d), nil, qa1); !client.IsCode(err, "malformed") {
		t.Fatalf("bad approval: %v", err)
	}
	// Not a statement at all.
	if _, err := attest(t, l.c, []byte(`{"_type":"nope"}`), nil, qa1); !client.IsCode(err, "malformed") {
		t.Fatalf("not a statement: %v", err)
	}
	// A revoked key's later statements are refused; its earlier ones stay.
	env.Must(&record.Record{Type: record.TypeIdentityRevoke, KeyID: qa2.ID()}, qa2)
	if _, err := attest(t, l.c, statement(predicate.Certification, map[string]any{"program": "FIPS 140-3", "certificate": "#1"}, d), nil, qa2); !client.IsCode(err, "key_inactive") {
		t.Fatalf("revoked signer: %v", err)
	}
	qr, _, err := l.c.Query(ctx, &client.QueryParams{Subject: d, Kind: "attestation", Order: "asc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(qr.Items) != 3 {
		t.Fatalf("%d attestations of the digest, want 3", len(qr.Items))
	}
	first := qr.Items[0]
	qr0 := qr
	if first.Fields["decision"] != "approved" || len(first.Signers) != 2 || first.Releases[0].Status != "published" {
		t.Fatalf("approval in the query: %+v", first)
	}
	if qr.Items[1].Fields["builder"] != "https://ci.example.com/builder" {
		t.Fatalf("SLSA typed fields: %+v", qr.Items[1].Fields)
	}
	// Time ranges select by log time: [since, until).
	qr, _, err = l.c.Query(ctx, &client.QueryParams{Subject: d, Kind: "attestation", Order: "asc", Since: first.Time})
	if err != nil || len(qr.Items) != 3 || qr.Items[0].Index != first.Index {
		t.Fatalf("since: %v %+v", err, qr)
	}
	qr, _, err = l.c.Query(ctx, &client.QueryParams{Subject: d, Kind: "attestation", Order: "asc", Until: first.Time})
	if err != nil || len(qr.Items) != 0 {
		t.Fatalf("until the first attestation: %v %+v", err, qr)
	}
	qr, _, err = l.c.Query(ctx, &client.QueryParams{Subject: d, Kind: "attestation", Order: "asc", Since: first.Time, Until: first.Time.Add(time.Nanosecond)})
	if err != nil || len(qr.Items) != 1 || qr.Items[0].Index != first.Index {
		t.Fatalf("since..until around the first attestation: %v %+v", err, qr)
	}
	// The statement and its envelope can be fetched and verified by a client.
	qr = qr0
	a, err := l.c.Attestation(ctx, first.Index, mustHeld(t, l.c), l.c.NewIdentityCache())
	if err != nil || !a.Verified || a.Predicate["scope"] != "qa" {
		t.Fatalf("fetched attestation: %+v %v", a, err)
	}

	// where= that does not compile is a 400 naming the problem.
	st, body, _ := httpDo(t, "GET", env.URL+"/api/v1/query?where="+url.QueryEscape(`fields.decision ==`), nil)
	if st != 400 || !strings.Contains(string(body), "bad_where") || !strings.Contains(string(body), "Syntax error") {
		t.Fatalf("bad where: %d %s", st, body)
	}
	st, body, _ = httpDo(t, "GET", env.URL+"/api/v1/query?where="+url.QueryEscape(`index + 1`), nil)
	if st != 400 || !strings.Contains(string(body), "boolean") {
		t.Fatalf("non-boolean where: %d %s", st, body)
	}
	qr, _, err = l.c.Query(ctx, &client.QueryParams{Where: `kind == "attestation" && fields.decision == "approved"`})
	if err != nil || len(qr.Items) != 1 || qr.Items[0].Index != first.Index {
		t.Fatalf("where on typed fields: %v %+v", err, qr)
	}
	qr, _, err = l.c.Query(ctx, &client.QueryParams{Where: `predicate.runDetails.builder.id.startsWith("https://ci.example.com")`})
	if err != nil || len(qr.Items) != 2 {
		t.Fatalf("where on the predicate: %v %d", err, len(qr.Items))
	}

	// Point in time: the answers change as attestations and a yank come in.
	l.c.Query(ctx, &client.QueryParams{})
	before := mustHeld(t, l.c).Size
	attest(t, l.c, statement(predicate.Certification, map[string]any{"program": "FIPS 140-3", "certificate": "#4711"}, d), nil, builder)
	l.must(record.ChainPackage, &record.Record{Type: record.TypeYank, Version: "1.0.0", Reason: "security"}, l.owner)
	count := func(at uint64, include string) int {
		qr, _, err := l.c.Query(ctx, &client.QueryParams{Subject: d, Kind: "attestation", At: client.At{Size: at, Include: include}})
		if err != nil {
			t.Fatal(err)
		}
		return len(qr.Items)
	}
	if n := count(sizeAfterApproval, ""); n != 1 {
		t.Fatalf("at %d: %d attestations, want 1", sizeAfterApproval, n)
	}
	if n := count(before, ""); n != 3 {
		t.Fatalf("at %d: %d attestations, want 3", before, n)
	}
	if n := count(0, ""); n != 0 {
		t.Fatalf("after the yank: %d attestations shown by default, want 0 (the release is yanked)", n)
	}
	if n := count(0, "yanked"); n != 4 {
		t.Fatalf("after the yank, include=yanked: %d, want 4", n)
	}
	qr, _, _ = l.c.Query(ctx, &client.QueryParams{Subject: d, State: "yanked"})
	if len(qr.Items) != 5 { // the release record and four attestations name the digest
		t.Fatalf("state=yanked: %d items", len(qr.Items))
	}
}

func mustHeld(t *testing.T, c *client.Client) *translog.Checkpoint {
	t.Helper()
	cp, err := c.Held()
	if err != nil || cp == nil {
		t.Fatalf("held checkpoint: %v", err)
	}
	return cp
}

// TestPaginationUnderConcurrentWrites pages through a query with a small
// limit while writers keep appending: the pages, pinned to the first page's
// tree size, hold every matching entry exactly once.
func TestPaginationUnderConcurrentWrites(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	l := &lc{t: t, env: env, c: env.Client(), pkg: "acme/widget"}
	l.owner = env.Key(keys.Ed25519)
	env.Must(&record.Record{Type: record.TypeCreate, Package: l.pkg, Owners: []string{l.owner.ID()}}, l.owner)
	content := []byte("paged")
	d := l.upload(content)
	l.release("1.0.0", content, "published", l.owner)
	signer := env.Key(keys.Ed25519)
	for i := 0; i < 120; i++ {
		if _, err := attest(t, l.c, statement("https://example.com/note/v1", map[string]any{"n": i}, d), nil, signer); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := env.Client()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				attest(t, c, statement("https://example.com/note/v1", map[string]any{"w": w, "i": i}, d), nil, signer)
			}
		}()
	}
	for _, order := range []string{"desc", "asc"} {
		p := &client.QueryParams{Subject: d, Kind: "attestation", Limit: 7, Order: order}
		seen := map[uint64]bool{}
		var got []uint64
		var size uint64
		for {
			qr, _, err := l.c.Query(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if size == 0 {
				size = qr.TreeSize
			} else if qr.TreeSize != size {
				t.Fatalf("page at tree size %d, first page at %d", qr.TreeSize, size)
			}
			for _, it := range qr.Items {
				if seen[it.Index] {
					t.Fatalf("index %d returned twice", it.Index)
				}
				seen[it.Index] = true
				got = append(got, it.Index)
			}
			if qr.Next == "" {
				break
			}
			p.Cursor = qr.Next
		}
		all, _, err := l.c.Query(ctx, &client.QueryParams{Subject: d, Kind: "attestation", Limit: 1000, Order: order, At: client.At{Size: size}})
		if err != nil {
			t.Fatal(err)
		}
		if len(all.Items) != len(got) || len(got) < 120 {
			t.Fatalf("%s: paged %d items, one page %d", order, len(got), len(all.Items))
		}
		for i, it := range all.Items {
			if it.Index != got[i] {
				t.Fatalf("%s: item %d is %d paged, %d in one page", order, i, got[i], it.Index)
			}
		}
	}
	close(stop)
	wg.Wait()
}
