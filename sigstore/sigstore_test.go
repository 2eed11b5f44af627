package sigstore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vouchdev/vouch/internal/sigstoretest"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/sigstore"
)

func mustRoot(t *testing.T, name string, doc []byte) *sigstore.Root {
	t.Helper()
	r, err := sigstore.NewRoot(name, doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkOf(err error) string {
	var ce *sigstore.CheckError
	if errors.As(err, &ce) {
		return ce.Check
	}
	return ""
}

// TestBundles verifies bundles of every version and both content kinds,
// and PEP 740 attestations, made by a virtual Sigstore.
func TestBundles(t *testing.T) {
	v := sigstoretest.New(t)
	roots := sigstore.NewRoots(mustRoot(t, "virtual", v.TrustedRoot(sigstoretest.RootOptions{})))
	artifact := []byte("widget 1.0.0")
	sum := sha256.Sum256(artifact)
	stmt := sigstoretest.Statement("https://slsa.dev/provenance/v1", map[string]any{}, "sha256:"+hex.EncodeToString(sum[:]))
	ci := sigstoretest.GitHubWorkflow("acme/widget", ".github/workflows/release.yml", "refs/tags/v1.0.0")
	for _, version := range []string{"0.1", "0.2", "0.3", "0.3-legacy"} {
		for _, kind := range []string{record.BundleDSSE, record.BundleMessageSignature} {
			var doc []byte
			if kind == record.BundleDSSE {
				doc = v.DSSE(ci, stmt, sigstoretest.Options{Version: version})
			} else {
				doc = v.MessageSignature(ci, artifact, sigstoretest.Options{Version: version})
			}
			d, err := sigstore.Parse(doc)
			if err != nil {
				t.Fatalf("%s %s: %v", version, kind, err)
			}
			if d.Content != kind {
				t.Fatalf("%s %s: content %s", version, kind, d.Content)
			}
			res, err := roots.Verify(d)
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", version, kind, err, doc)
			}
			id := res.Identity
			if id.Issuer != sigstoretest.GitHubIssuer || id.Subject != ci.Subject || id.Extensions["sourceRepositoryURI"] != "https://github.com/acme/widget" ||
				id.Extensions["sourceRepositoryRef"] != "refs/tags/v1.0.0" {
				t.Fatalf("%s %s: identity %+v", version, kind, id)
			}
			if kind == record.BundleMessageSignature {
				var st struct {
					Subject []struct {
						Digest map[string]string `json:"digest"`
					} `json:"subject"`
					PredicateType string `json:"predicateType"`
				}
				if err := json.Unmarshal(d.Statement(), &st); err != nil || st.PredicateType != sigstore.SignaturePredicateType ||
					st.Subject[0].Digest["sha256"] != hex.EncodeToString(sum[:]) {
					t.Fatalf("message signature statement: %s %v", d.Statement(), err)
				}
				if _, err := record.ParseStatement(d.Statement()); err != nil {
					t.Fatalf("message signature statement: %v", err)
				}
			}
		}
	}
	// PEP 740's layout of the same thing.
	pep := sigstoretest.PEP740(t, v.DSSE(sigstoretest.Email("https://accounts.example.com", "dev@example.com"), stmt, sigstoretest.Options{}))
	d, err := sigstore.Parse(pep)
	if err != nil || d.MediaType != record.PEP740MediaType {
		t.Fatalf("PEP 740: %+v %v", d, err)
	}
	if res, err := roots.Verify(d); err != nil || res.Identity.Subject != "dev@example.com" {
		t.Fatalf("PEP 740: %v", err)
	}
}

// TestBundleRefusals checks that each failed check is named.
func TestBundleRefusals(t *testing.T) {
	v := sigstoretest.New(t)
	root := v.TrustedRoot(sigstoretest.RootOptions{})
	roots := sigstore.NewRoots(mustRoot(t, "virtual", root))
	id := sigstoretest.Email("https://accounts.example.com", "dev@example.com")
	stmt := sigstoretest.Statement("https://example.com/p/v1", map[string]any{}, "sha256:"+strings.Repeat("a", 64))
	verify := func(doc []byte, roots *sigstore.Roots) error {
		d, err := sigstore.Parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = roots.Verify(d)
		return err
	}
	// Another Sigstore instance's certificate does not chain.
	other := sigstoretest.New(t)
	if err := verify(other.DSSE(id, stmt, sigstoretest.Options{}), roots); checkOf(err) != sigstore.CheckChain {
		t.Fatalf("untrusted root: %v", err)
	}
	// No root at all.
	if err := verify(v.DSSE(id, stmt, sigstoretest.Options{}), nil); checkOf(err) != sigstore.CheckChain {
		t.Fatalf("no root: %v", err)
	}
	// Logged after the certificate expired.
	if err := verify(v.DSSE(id, stmt, sigstoretest.Options{Signed: time.Now().Add(20 * time.Minute)}), roots); checkOf(err) != sigstore.CheckExpired {
		t.Fatalf("expired: %v", err)
	}
	// A tampered payload, and a signature from another key.
	doc := v.DSSE(id, stmt, sigstoretest.Options{})
	tampered := bytes.Replace(doc, []byte(base64.StdEncoding.EncodeToString(stmt)), []byte(base64.StdEncoding.EncodeToString(bytes.Replace(stmt, []byte("example.com/p"), []byte("example.com/q"), 1))), 1)
	if bytes.Equal(tampered, doc) {
		t.Fatal("tampering did not change the bundle")
	}
	if err := verify(tampered, roots); checkOf(err) != sigstore.CheckSignature {
		t.Fatalf("tampered payload: %v", err)
	}
	d1, _ := sigstore.Parse(doc)
	d2, _ := sigstore.Parse(v.DSSE(id, stmt, sigstoretest.Options{}))
	forged := bytes.Replace(doc, []byte(base64.StdEncoding.EncodeToString(d1.Sig)), []byte(base64.StdEncoding.EncodeToString(d2.Sig)), 1)
	if err := verify(forged, roots); checkOf(err) != sigstore.CheckSignature {
		t.Fatalf("forged signature: %v", err)
	}
	// A log promise that does not verify, and no inclusion proof.
	v01 := v.DSSE(id, stmt, sigstoretest.Options{Version: "0.1"})
	var b map[string]any
	json.Unmarshal(v01, &b)
	entry := b["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
	entry["inclusionPromise"].(map[string]any)["signedEntryTimestamp"] = base64.StdEncoding.EncodeToString([]byte("not a signature"))
	badLog, _ := json.Marshal(b)
	if err := verify(badLog, roots); checkOf(err) != sigstore.CheckLogProof {
		t.Fatalf("bad log promise: %v", err)
	}
	// A root without logs relies on signed timestamps: none is a failure.
	tsaOnly := sigstore.NewRoots(mustRoot(t, "tsa-only", v.TrustedRoot(sigstoretest.RootOptions{NoLogs: true})))
	if err := verify(v.DSSE(id, stmt, sigstoretest.Options{NoTimestamp: true, NoLog: true}), tsaOnly); checkOf(err) != sigstore.CheckTimestamp {
		t.Fatalf("no timestamp: %v", err)
	}
	if err := verify(v.DSSE(id, stmt, sigstoretest.Options{NoLog: true}), tsaOnly); err != nil {
		t.Fatalf("signed timestamp only: %v", err)
	}
	// A root that has a log requires an entry in it.
	if err := verify(v.DSSE(id, stmt, sigstoretest.Options{NoLog: true}), roots); checkOf(err) != sigstore.CheckLogProof {
		t.Fatalf("no log entry: %v", err)
	}
}

// TestNotABundle checks that documents of other kinds are named.
func TestNotABundle(t *testing.T) {
	v := sigstoretest.New(t)
	for name, doc := range map[string]string{
		"trusted root": string(v.TrustedRoot(sigstoretest.RootOptions{})),
		"envelope":     `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`,
		"bad version":  `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.9+json"}`,
	} {
		if _, err := sigstore.Parse([]byte(doc)); err == nil {
			t.Errorf("%s parsed as a bundle", name)
		}
		if name != "bad version" && sigstore.IsBundle([]byte(doc)) {
			t.Errorf("%s looks like a bundle", name)
		}
	}
}
