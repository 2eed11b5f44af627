package e2e

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/sigstoretest"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
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
