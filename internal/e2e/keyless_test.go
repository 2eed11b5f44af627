package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/audit"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/sigstoretest"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/policy"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/sigstore"
)

// keylessEnv is a registry that trusts a virtual Sigstore instance, with a
// published release to attest to.
type keylessEnv struct {
	*lc
	ca      *sigstoretest.CA
	roots   *sigstore.Roots
	content []byte
	digest  string
}

func newKeylessEnv(t *testing.T, o testreg.Options) *keylessEnv {
	t.Helper()
	v := sigstoretest.New(t)
	root, err := sigstore.NewRoot("virtual", v.TrustedRoot(sigstoretest.RootOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	o.Sigstore = sigstore.NewRoots(root)
	env := testreg.Start(t, o)
	l := &lc{t: t, env: env, c: env.Client(), pkg: "acme/widget"}
	l.owner = env.Key(keys.Ed25519)
	env.Must(&record.Record{Type: record.TypeCreate, Package: l.pkg, Owners: []string{l.owner.ID()}}, l.owner)
	k := &keylessEnv{lc: l, ca: v, roots: o.Sigstore, content: []byte("widget 1.0.0, as npm packs it")}
	k.digest = l.upload(k.content)
	l.release("1.0.0", k.content, "published", l.owner)
	return k
}

func (k *keylessEnv) submit(doc []byte) (*client.Receipt, error) {
	return k.c.Submit(context.Background(), &client.Submission{Bundle: doc}, true)
}

var releaseCI = sigstoretest.GitHubWorkflow("acme/widget", ".github/workflows/release.yml", "refs/tags/v1.0.0")

// TestKeylessBundles submits bundles of every version and both content
// kinds, and PEP 740 attestations, made by a virtual Sigstore; refuses
// forged, expired, untrusted, tampered, replayed and foreign-subject ones
// with the check that failed; and queries them by identity.
func TestKeylessBundles(t *testing.T) {
	k := newKeylessEnv(t, testreg.Options{})
	ctx := context.Background()
	// The release records its content's sha384 and sha512.
	rr, _, err := k.c.Release(ctx, k.pkg, "1.0.0", client.At{})
	if err != nil {
		t.Fatal(err)
	}
	s512 := sha512.Sum512(k.content)
	d512 := "sha512:" + hex.EncodeToString(s512[:])
	if len(rr.Digests) != 2 || rr.Digests[1] != d512 {
		t.Fatalf("release digests: %v", rr.Digests)
	}
	prov := sigstoretest.Statement(predicate.SLSAProvenanceV1, slsa, k.digest)
	var accepted []uint64
	for _, version := range []string{"0.1", "0.2", "0.3", "0.3-legacy"} {
		for _, doc := range [][]byte{
			k.ca.DSSE(releaseCI, prov, sigstoretest.Options{Version: version}),
			k.ca.MessageSignature(releaseCI, k.content, sigstoretest.Options{Version: version}),
		} {
			rc, err := k.submit(doc)
			if err != nil {
				t.Fatalf("bundle %s: %v", version, err)
			}
			accepted = append(accepted, rc.Index)
		}
	}
	// npm's provenance names the tarball by sha512 only.
	npm := sigstoretest.Statement(predicate.SLSAProvenanceV1, slsa, d512)
	npmRC, err := k.submit(k.ca.DSSE(releaseCI, npm, sigstoretest.Options{}))
	if err != nil {
		t.Fatalf("sha512 subject: %v", err)
	}
	// PyPI's PEP 740 attestation, from a person.
	dev := sigstoretest.Email("https://accounts.example.com", "dev@example.com")
	pep := sigstoretest.PEP740(t, k.ca.DSSE(dev, sigstoretest.Statement("https://docs.pypi.org/attestations/publish/v1", map[string]any{}, k.digest), sigstoretest.Options{}))
	if _, err := k.submit(pep); err != nil {
		t.Fatalf("PEP 740: %v", err)
	}

	// A bundle signed with a registered key is an envelope like any other;
	// its key hint names the key. A message signature made with a key is
	// refused, saying why.
	k256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k256)
	kp, err := keys.ParsePrivatePEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	if err != nil {
		t.Fatal(err)
	}
	k.env.Must(&record.Record{Type: record.TypeIdentity, PublicKey: kp.Public().Base64()}, kp)
	keyed := sigstoretest.Statement(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa"}, k.digest)
	keyRC, err := k.submit(sigstoretest.KeyDSSE(t, k256, keyed, false))
	if err != nil {
		t.Fatalf("key-signed bundle: %v", err)
	}
	if qr, _, err := k.c.Query(ctx, &client.QueryParams{Signer: kp.ID()}); err != nil || len(qr.Items) != 2 || qr.Items[0].Index != keyRC.Index || qr.Items[0].Keyless {
		t.Fatalf("key-signed bundle's attestation: %+v %v", qr, err)
	}
	if _, err := k.submit(sigstoretest.KeyDSSE(t, k256, keyed, true)); !client.IsCode(err, "malformed") || !strings.Contains(err.Error(), "message signature made with a key") {
		t.Fatalf("key-signed message signature: %v", err)
	}

	// Refusals name the check that failed.
	other := sigstoretest.New(t)
	doc := k.ca.DSSE(releaseCI, prov, sigstoretest.Options{})
	d1, _ := sigstore.Parse(doc)
	d2, _ := sigstore.Parse(k.ca.DSSE(releaseCI, prov, sigstoretest.Options{}))
	tampered := bytes.Replace(doc, []byte(base64.StdEncoding.EncodeToString(prov)),
		[]byte(base64.StdEncoding.EncodeToString(bytes.Replace(prov, []byte("ci.example.com"), []byte("ci.evil.example"), 1))), 1)
	for _, c := range []struct {
		name, code, says string
		doc              []byte
	}{
		{"untrusted root", "bundle_chain", "certificate chain", other.DSSE(releaseCI, prov, sigstoretest.Options{})},
		{"expired at signing time", "bundle_expired", "expired at signing time", k.ca.DSSE(releaseCI, prov, sigstoretest.Options{Signed: time.Now().Add(20 * time.Minute)})},
		{"no log entry", "bundle_log_proof", "transparency log", k.ca.DSSE(releaseCI, prov, sigstoretest.Options{NoLog: true})},
		{"tampered payload", "bad_signature", "signature", tampered},
		{"forged signature", "bad_signature", "signature", bytes.Replace(doc, []byte(base64.StdEncoding.EncodeToString(d1.Sig)), []byte(base64.StdEncoding.EncodeToString(d2.Sig)), 1)},
		{"wrong subject", "unknown_subject", "subject", k.ca.DSSE(releaseCI, sigstoretest.Statement(predicate.SLSAProvenanceV1, slsa, digestOf([]byte("elsewhere"))), sigstoretest.Options{})},
		{"wrong artifact", "unknown_subject", "subject", k.ca.MessageSignature(releaseCI, []byte("another artifact"), sigstoretest.Options{})},
		{"not a bundle", "malformed", "bundle", []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)},
	} {
		_, err := k.submit(c.doc)
		if !client.IsCode(err, c.code) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %s saying %q", c.name, err, c.code, c.says)
		}
	}
	// A replay of an accepted bundle is refused; the same statement signed
	// again is another attestation.
	if _, err := k.submit(doc); err != nil {
		t.Fatal(err)
	}
	if _, err := k.submit(doc); !client.IsCode(err, "conflict") {
		t.Fatalf("replay: %v", err)
	}

	// Queries by identity: exact, by issuer and pattern, and in where=.
	count := func(p client.QueryParams) int {
		t.Helper()
		p.Limit = 1000
		qr, _, err := k.c.Query(ctx, &p)
		if err != nil {
			t.Fatal(err)
		}
		return len(qr.Items)
	}
	ci := len(accepted) + 2 // every version and kind, the npm one, the replayed one
	if n := count(client.QueryParams{Identity: releaseCI.Subject}); n != ci {
		t.Fatalf("identity=subject: %d, want %d", n, ci)
	}
	if n := count(client.QueryParams{Identity: sigstoretest.GitHubIssuer + " https://github.com/acme/*"}); n != ci {
		t.Fatalf("identity=issuer pattern: %d, want %d", n, ci)
	}
	if n := count(client.QueryParams{Identity: "https://accounts.example.com dev@example.com"}); n != 1 {
		t.Fatalf("identity=email: %d", n)
	}
	if n := count(client.QueryParams{Identity: "https://accounts.example.com https://github.com/acme/*"}); n != 0 {
		t.Fatalf("identity with another issuer: %d", n)
	}
	if n := count(client.QueryParams{Where: `identities.exists(i, i.issuer == "` + sigstoretest.GitHubIssuer + `" && i.subject.startsWith("https://github.com/acme/") && i.sourceRepositoryRef == "refs/tags/v1.0.0")`}); n != ci {
		t.Fatalf("where= on identities: %d, want %d", n, ci)
	}
	// The sha512-only statement is about the release, found by either digest.
	for _, s := range []string{k.digest, d512} {
		qr, _, err := k.c.Query(ctx, &client.QueryParams{Subject: s, Kind: "attestation", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, it := range qr.Items {
			if it.Index == npmRC.Index {
				found = len(it.Releases) == 1 && it.Releases[0].Version == "1.0.0" && it.Keyless && len(it.Identities) == 1
			}
		}
		if !found {
			t.Fatalf("subject=%s does not list the sha512 attestation with its release and identity", s)
		}
	}
	// The attestation as served: its bundle, identity and the log's reference.
	st, body, _ := httpDo(t, "GET", k.env.URL+"/api/v1/attestations/"+itoa(accepted[0]), nil)
	var aj struct {
		Bundle     []byte `json:"bundle"`
		Identities []struct {
			Issuer, Subject string
			Extensions      map[string]string
		} `json:"identities"`
		BundleRef record.BundleRef `json:"bundleRef"`
		Signers   []string         `json:"signers"`
	}
	if err := json.Unmarshal(body, &aj); st != 200 || err != nil || len(aj.Identities) != 1 || aj.Identities[0].Subject != releaseCI.Subject ||
		aj.BundleRef.Digest != record.Digest(aj.Bundle) || aj.BundleRef.TrustedRoot != k.roots.List()[0].Digest || len(aj.Signers) != 0 {
		t.Fatalf("GET attestation: %d %s", st, body)
	}
	// The log's leaf names no identity.
	e, err := k.c.EntryIn(ctx, accepted[0], mustHeld(t, k.c))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(e.Leaf, []byte("acme/widget")) || bytes.Contains(e.Leaf, []byte("github")) {
		t.Fatalf("the leaf names the signer: %s", e.Leaf)
	}
}

func itoa(i uint64) string { return strings.TrimSpace(string(mustJSON(i))) }

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestKeylessVerifyAndAudit verifies a release by its keyless statements:
// the client checks each bundle against its own trusted root (and counts
// it unverified without one), a policy requires provenance from the CI
// identity, and the auditor re-verifies every bundle.
func TestKeylessVerifyAndAudit(t *testing.T) {
	k := newKeylessEnv(t, testreg.Options{})
	ctx := context.Background()
	s512 := sha512.Sum512(k.content)
	// npm-style provenance (sha512 subject) from the release workflow, a
	// signature over the tarball from a maintainer, and provenance from a
	// fork's workflow.
	fork := sigstoretest.GitHubWorkflow("mallory/widget", ".github/workflows/release.yml", "refs/tags/v1.0.0")
	for _, doc := range [][]byte{
		k.ca.DSSE(releaseCI, sigstoretest.Statement(predicate.SLSAProvenanceV1, slsa, "sha512:"+hex.EncodeToString(s512[:])), sigstoretest.Options{}),
		k.ca.MessageSignature(sigstoretest.Email("https://accounts.example.com", "maintainer@example.com"), k.content, sigstoretest.Options{Version: "0.2"}),
		k.ca.DSSE(fork, sigstoretest.Statement(predicate.SLSAProvenanceV1, slsa, k.digest), sigstoretest.Options{}),
	} {
		if _, err := k.submit(doc); err != nil {
			t.Fatal(err)
		}
	}
	pol, err := policy.Load("../../docs/policies/keyless-provenance.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Without a trusted root the client reads the identities but verifies nothing.
	ev, err := k.env.Client().Gather(ctx, k.pkg, "1.0.0", client.At{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Attestations) != 3 || ev.Attestations[0].Verified || len(ev.Attestations[0].Identities) != 1 {
		t.Fatalf("evidence without a root: %+v", ev.Attestations)
	}
	if v := pol.Evaluate(&policy.Input{Evidence: ev}); v.Pass {
		t.Fatalf("policy passed on unverified bundles: %+v", v)
	}
	// With the root, the release workflow's provenance satisfies the policy.
	c, err := client.New(k.env.URL, client.Options{LogKey: k.env.Verifier, Home: t.TempDir(), Sigstore: k.roots})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err = c.Gather(ctx, k.pkg, "1.0.0", client.At{}); err != nil {
		t.Fatal(err)
	}
	for _, a := range ev.Attestations {
		if !a.Verified || !a.Keyless {
			t.Fatalf("attestation %d not verified with the root", a.Index)
		}
	}
	if v := pol.Evaluate(&policy.Input{Evidence: ev}); !v.Pass {
		t.Fatalf("policy: %+v", v.Results)
	}
	if ev.Attestations[1].PredicateType != sigstore.SignaturePredicateType || ev.Attestations[1].Identities[0].Subject != "maintainer@example.com" {
		t.Fatalf("message signature: %+v", ev.Attestations[1])
	}
	// A client trusting another Sigstore instance does not count them.
	otherRoot, _ := sigstore.NewRoot("other", sigstoretest.New(t).TrustedRoot(sigstoretest.RootOptions{}))
	c2, _ := client.New(k.env.URL, client.Options{LogKey: k.env.Verifier, Home: t.TempDir(), Sigstore: sigstore.NewRoots(otherRoot)})
	if ev, err = c2.Gather(ctx, k.pkg, "1.0.0", client.At{}); err != nil || ev.Attestations[0].Verified {
		t.Fatalf("evidence with another root: %v", err)
	}
	// The auditor replays the log and re-verifies every bundle it can.
	for _, c := range []struct {
		roots               *sigstore.Roots
		verified, unchecked int
	}{{k.roots, 3, 0}, {nil, 0, 3}, {sigstore.NewRoots(otherRoot), 0, 3}} {
		rep, err := audit.Run(ctx, audit.Options{Client: k.env.Client(), LogURL: k.env.URL, Compare: true, Sigstore: c.roots}, k.env.Verifier)
		if err != nil || !rep.OK() || rep.Bundles != c.verified || rep.BundlesUnchecked != c.unchecked || rep.Statements != 3 {
			t.Fatalf("audit: %+v %v", rep, err)
		}
	}
	// A bundle altered in the database is caught by the auditor.
	if k.env.Backend == "sqlite" {
		k.env.Stop()
		db, err := sql.Open("sqlite3", filepath.Join(k.env.Dir, "vouch.db"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE keyless SET bundle = CAST(replace(CAST(bundle AS TEXT), '"mediaType"', ' "mediaType"') AS BLOB)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		env := testreg.Start(t, testreg.Options{Dir: k.env.Dir, SQLite: true, Sigstore: k.roots})
		rep, err := audit.Run(ctx, audit.Options{Client: env.Client(), LogURL: env.URL, Sigstore: k.roots}, env.Verifier)
		if err != nil || rep.Violation == nil || !strings.Contains(rep.Violation.Reason, "digest") {
			t.Fatalf("audit of an altered bundle: %+v %v", rep, err)
		}
	}
}

// TestKeylessErasureLeavesNoTrace erases a keyless signer by issuer and
// subject, and another keyless attestation by index: no byte of either
// identity is left in the database files, the log is unchanged, every
// proof verifies, and reads say what was erased.
func TestKeylessErasureLeavesNoTrace(t *testing.T) {
	k := newKeylessEnv(t, testreg.Options{})
	ctx := context.Background()
	person := sigstoretest.Email("https://accounts.example.com", "zebulon.keyless7731@example.org")
	ci := sigstoretest.GitHubWorkflow("quux-labs-4471/widget", ".github/workflows/release.yml", "refs/tags/v1.0.0")
	secrets := []string{person.Subject, "quux-labs-4471", "statement-secret-6120"}
	personal := k.ca.DSSE(person, sigstoretest.Statement(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa", "comment": secrets[2]}, k.digest), sigstoretest.Options{})
	for _, doc := range [][]byte{personal, k.ca.MessageSignature(person, k.content, sigstoretest.Options{})} {
		if _, err := k.submit(doc); err != nil {
			t.Fatal(err)
		}
	}
	ciRC, err := k.submit(k.ca.DSSE(ci, sigstoretest.Statement(predicate.SLSAProvenanceV1, slsa, k.digest), sigstoretest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := k.submit(k.ca.DSSE(releaseCI, sigstoretest.Statement(predicate.SLSAProvenanceV1, slsa, k.digest), sigstoretest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	onDisk := func() []string {
		if k.env.Backend == "sqlite" {
			return grepDir(t, k.env.Dir, secrets...)
		}
		return grepPostgres(t, k.env, secrets...)
	}
	if found := onDisk(); len(found) < len(secrets) {
		t.Fatalf("before erasure, only %v were found: the test would prove nothing", found)
	}
	before, _, err := k.c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := k.env.Store.Leaves(ctx, 0, before.Size)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaves {
		for _, s := range secrets {
			if bytes.Contains(l, []byte(s)) {
				t.Fatalf("the log holds %q", s)
			}
		}
	}
	// Only an operator may erase; a keyless signer is named by issuer and subject.
	req := &api.AdminRequest{Action: "erase", Keyless: &api.CertIdentity{Issuer: person.Issuer, Subject: person.Subject}}
	if _, err := k.c.Admin(ctx, req, k.owner); !client.IsCode(err, "not_authorized") {
		t.Fatalf("erasure by a non-operator: %v", err)
	}
	rep, err := k.c.Admin(ctx, req, k.env.Operator)
	if err != nil || rep.Statements != 2 || rep.Bundles != 2 {
		t.Fatalf("erase keyless: %+v %v", rep, err)
	}
	if _, err := k.c.Admin(ctx, &api.AdminRequest{Action: "erase", Keyless: &api.CertIdentity{Issuer: person.Issuer, Subject: "nobody@example.org"}}, k.env.Operator); !client.IsCode(err, "not_found") {
		t.Fatalf("erase an unknown keyless signer: %v", err)
	}
	idx := ciRC.Index
	if _, err := k.c.Admin(ctx, &api.AdminRequest{Action: "erase", Attestation: &idx}, k.env.Operator); err != nil {
		t.Fatal(err)
	}
	if found := onDisk(); len(found) > 0 {
		t.Fatalf("erased data is still stored: %v", found)
	}
	// The log is untouched, and every entry is still proven.
	after, err := k.env.Store.Leaves(ctx, 0, before.Size)
	if err != nil {
		t.Fatal(err)
	}
	for i := range leaves {
		if !bytes.Equal(leaves[i], after[i]) {
			t.Fatalf("entry %d changed", i)
		}
	}
	cp, _, err := k.c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < cp.Size; i++ {
		if _, err := k.c.EntryIn(ctx, i, cp); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	// Reads say what was erased.
	c, _ := client.New(k.env.URL, client.Options{LogKey: k.env.Verifier, Home: t.TempDir(), Sigstore: k.roots})
	ev, err := c.Gather(ctx, k.pkg, "1.0.0", client.At{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ev.Attestations {
		gone := a.Index != kept.Index
		if a.Erased != gone || gone && (a.Identities != nil || a.Bundle != nil || a.Statement != nil) || !gone && !a.Verified {
			t.Fatalf("attestation %d after erasure: %+v", a.Index, a)
		}
	}
	qr, _, err := k.c.Query(ctx, &client.QueryParams{Subject: k.digest, Kind: "attestation", Limit: 100})
	if err != nil || len(qr.Items) != 4 {
		t.Fatalf("query after erasure: %+v %v", qr, err)
	}
	for _, it := range qr.Items {
		if gone := it.Index != kept.Index; !it.Keyless || it.Erased != gone || gone != (len(it.Identities) == 0) {
			t.Fatalf("query item %d after erasure: %+v", it.Index, it)
		}
	}
	if qr, _, err := k.c.Query(ctx, &client.QueryParams{Identity: person.Subject}); err != nil || len(qr.Items) != 0 {
		t.Fatalf("query by an erased identity: %+v %v", qr, err)
	}
	rep2, err := audit.Run(ctx, audit.Options{Client: k.env.Client(), LogURL: k.env.URL, Compare: true, Sigstore: k.roots}, k.env.Verifier)
	if err != nil || !rep2.OK() || rep2.Erased != 3 || rep2.Bundles != 1 {
		t.Fatalf("audit after erasure: %+v %v", rep2, err)
	}
}

// TestKeylessThroughAMirror: a mirror copies keyless attestations' bundles
// with their statements, so a client reading through the mirror verifies
// them against its own Sigstore root, finds them by identity, and sees the
// upstream's erasure of an identity.
func TestKeylessThroughAMirror(t *testing.T) {
	k := newKeylessEnv(t, testreg.Options{})
	ctx := context.Background()
	person := sigstoretest.Email("https://accounts.example.com", "qa-lead@example.com")
	for _, doc := range [][]byte{
		k.ca.DSSE(releaseCI, sigstoretest.Statement(predicate.SLSAProvenanceV1, slsa, k.digest), sigstoretest.Options{}),
		k.ca.MessageSignature(person, k.content, sigstoretest.Options{}),
	} {
		if _, err := k.submit(doc); err != nil {
			t.Fatal(err)
		}
	}
	m := startMirror(t, k.env.URL, k.env.Verifier, filepath.Join(t.TempDir(), "mirror"))
	m.caughtUp(k.env.URL)
	c, err := client.New(m.url, client.Options{LogKey: k.env.Verifier, Home: t.TempDir(), Sigstore: k.roots})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := c.Gather(ctx, k.pkg, "1.0.0", client.At{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Attestations) != 2 {
		t.Fatalf("the mirror shows %d attestations", len(ev.Attestations))
	}
	for _, a := range ev.Attestations {
		if !a.Keyless || !a.Verified || a.Bundle == nil || len(a.Identities) != 1 {
			t.Fatalf("attestation %d through the mirror: %+v", a.Index, a)
		}
	}
	qr, _, err := c.Query(ctx, &client.QueryParams{Identity: person.Subject})
	if err != nil || len(qr.Items) != 1 || qr.Items[0].Identities[0].Subject != person.Subject {
		t.Fatalf("query by identity through the mirror: %+v %v", qr, err)
	}
	// The upstream erases the person; the mirror follows its erasure feed.
	req := &api.AdminRequest{Action: "erase", Keyless: &api.CertIdentity{Issuer: person.Issuer, Subject: person.Subject}}
	if _, err := k.c.Admin(ctx, req, k.env.Operator); err != nil {
		t.Fatal(err)
	}
	// The mirror erases when it next reads the feed, and compacts its
	// database after deleting: wait until neither a query nor the files
	// hold the identity.
	deadline := time.Now().Add(30 * time.Second)
	for {
		qr, _, err := c.Query(ctx, &client.QueryParams{Identity: person.Subject})
		if err != nil {
			t.Fatal(err)
		}
		found := grepDir(t, m.dir, person.Subject)
		if len(qr.Items) == 0 && len(found) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mirror still finds the erased identity: %+v, stored in %v", qr.Items, found)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
