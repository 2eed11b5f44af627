package state

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

func subjectStatement(alg, hexDigest string) []byte {
	b, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": "pkg", "digest": map[string]string{alg: hexDigest}}},
		"predicateType": "https://example.com/p/v1", "predicate": map[string]any{}})
	return b
}

func (h *harness) attestation(payload []byte, k *keys.PrivateKey) *record.Entry {
	h.t.Helper()
	env, err := record.Sign(record.InTotoPayloadType, payload, k)
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := record.NewAttestationEntry(env, payload, []string{k.ID()}, LookupKey(h.m, nil))
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

// TestContentDigests checks that a release records its content's sha384
// and sha512 digests from its leaf, that statements naming the content by
// them are about the release, and that a later promote records them for a
// release that had none.
func TestContentDigests(t *testing.T) {
	h := newHarness(t)
	owner, attester := h.key(keys.Ed25519), h.key(keys.Ed25519)
	h.register(owner)
	h.register(attester)
	h.must(&record.Record{Type: record.TypeCreate, Package: "acme/widget", Owners: []string{owner.ID()}}, owner)
	s384, s512 := sha512.Sum384([]byte("content")), sha512.Sum512([]byte("content"))
	d384, d512 := "sha384:"+hex.EncodeToString(s384[:]), "sha512:"+hex.EncodeToString(s512[:])
	rel := h.entry(&record.Record{Type: record.TypeRelease, Package: "acme/widget", Prev: h.head("acme/widget"), Version: "1.0.0",
		Digest: digest, Size: size(7), MediaType: "application/gzip", Channel: record.ChannelPublished}, owner)
	rel.ContentDigests = []string{d384, d512}
	if err := h.tryEntry(rel); err != nil {
		t.Fatal(err)
	}
	if r := h.m.Releases["acme/widget@1.0.0"]; len(r.Digests) != 2 || h.m.Aliases[d512] != digest {
		t.Fatalf("release digests: %+v %v", r, h.m.Aliases)
	}
	// A statement naming the content by sha512 only is about the release.
	e := h.attestation(subjectStatement("sha512", strings.TrimPrefix(d512, "sha512:")), attester)
	c, err := Apply(h.m, e, Env{Index: h.index, Time: h.now})
	if err != nil || len(c.Resolved) != 1 || c.Resolved[0] != digest {
		t.Fatalf("sha512 subject: %+v %v", c, err)
	}
	// One naming unknown content by sha512 is not.
	other := sha512.Sum512([]byte("other"))
	e = h.attestation(subjectStatement("sha512", hex.EncodeToString(other[:])), attester)
	if _, err := Apply(h.m, e, Env{Index: h.index, Time: h.now}); !isRefusal(err, CodeUnknownSubject) {
		t.Fatalf("unknown sha512 subject: %v", err)
	}
	// A staged release without digests gets them with its promote, once.
	stage := h.entry(&record.Record{Type: record.TypeRelease, Package: "acme/widget", Prev: h.head("acme/widget"), Version: "1.1.0",
		Digest: "sha256:" + strings.Repeat("1", 64), Size: size(1), MediaType: "application/gzip", Channel: record.ChannelStaged}, owner)
	if err := h.tryEntry(stage); err != nil {
		t.Fatal(err)
	}
	s := sha512.Sum512([]byte("1"))
	promote := h.entry(&record.Record{Type: record.TypePromote, Package: "acme/widget", Prev: h.head("acme/widget"), Version: "1.1.0"}, owner)
	promote.ContentDigests = []string{"sha512:" + hex.EncodeToString(s[:])}
	if err := h.tryEntry(promote); err != nil {
		t.Fatal(err)
	}
	if r := h.m.Releases["acme/widget@1.1.0"]; r.Status != StatusPublished || len(r.Digests) != 1 {
		t.Fatalf("promoted release: %+v", r)
	}
	// A digest already recorded for other content is a contradiction.
	clash := h.entry(&record.Record{Type: record.TypeRelease, Package: "acme/widget", Prev: h.head("acme/widget"), Version: "1.2.0",
		Digest: "sha256:" + strings.Repeat("2", 64), Size: size(1), MediaType: "application/gzip", Channel: record.ChannelPublished}, owner)
	clash.ContentDigests = []string{d512}
	if err := h.tryEntry(clash); !isRefusal(err, CodeContentMismatch) {
		t.Fatalf("clashing digest: %v", err)
	}
}

// TestKeylessReplay checks the state machine's part for keyless
// attestations: no registered signer needed, the subject must be a
// release's content, and the same signature is logged once.
func TestKeylessReplay(t *testing.T) {
	h := newHarness(t)
	owner := h.key(keys.Ed25519)
	h.register(owner)
	h.must(&record.Record{Type: record.TypeCreate, Package: "acme/widget", Owners: []string{owner.ID()}}, owner)
	h.must(&record.Record{Type: record.TypeRelease, Package: "acme/widget", Prev: h.head("acme/widget"), Version: "1.0.0",
		Digest: digest, Size: size(7), MediaType: "application/gzip", Channel: record.ChannelPublished}, owner)
	ref := record.BundleRef{MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json", Content: record.BundleDSSE,
		Sig: base64.StdEncoding.EncodeToString([]byte("sig-1")), Signer: record.SignerKeyless, TrustedRoot: record.Digest([]byte("root"))}
	payload := subjectStatement("sha256", strings.TrimPrefix(digest, "sha256:"))
	keyless := func(sig string, payload []byte) *record.Entry {
		ref.Sig = base64.StdEncoding.EncodeToString([]byte(sig))
		e, err := record.NewKeylessEntry(payload, []byte(`{"bundle":"`+sig+`"}`), ref)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if err := h.tryEntry(keyless("sig-1", payload)); err != nil {
		t.Fatal(err)
	}
	if err := h.tryEntry(keyless("sig-1", payload)); !isRefusal(err, CodeConflict) {
		t.Fatalf("replay: %v", err)
	}
	if err := h.tryEntry(keyless("sig-2", payload)); err != nil {
		t.Fatalf("another signing of the same statement: %v", err)
	}
	if err := h.tryEntry(keyless("sig-3", subjectStatement("sha256", strings.Repeat("9", 64)))); !isRefusal(err, CodeUnknownSubject) {
		t.Fatalf("foreign subject: %v", err)
	}
}

func isRefusal(err error, code Code) bool {
	rf, ok := AsRefusal(err)
	return ok && rf.Code == code
}
