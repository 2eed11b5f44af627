package record

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vouchdev/vouch/keys"
)

func statementOf(digests map[string]string) []byte {
	b, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1",
		"subject": []any{map[string]any{"name": "pkg", "digest": digests}}, "predicateType": "https://example.com/p/v1", "predicate": map[string]any{}})
	return b
}

func hexSum(b []byte) (s256, s384, s512 string) {
	a, c, d := sha256.Sum256(b), sha512.Sum384(b), sha512.Sum512(b)
	return hex.EncodeToString(a[:]), hex.EncodeToString(c[:]), hex.EncodeToString(d[:])
}

// TestSubjectDigests checks that statements may name content by sha384 and
// sha512, and that malformed digests are handled as before.
func TestSubjectDigests(t *testing.T) {
	s256, s384, s512 := hexSum([]byte("tarball"))
	st, err := ParseStatement(statementOf(map[string]string{"sha512": s512}))
	if err != nil || len(st.Subjects) != 1 || st.Subjects[0] != "sha512:"+s512 {
		t.Fatalf("sha512 only: %+v %v", st, err)
	}
	st, err = ParseStatement(statementOf(map[string]string{"sha256": s256, "sha384": s384, "sha512": s512}))
	if err != nil || len(st.Subjects) != 3 {
		t.Fatalf("three digests: %+v %v", st, err)
	}
	// Malformed digests are refused (by the in-toto library), and a
	// statement must name its subjects by an algorithm Vouch knows.
	if _, err := ParseStatement(statementOf(map[string]string{"sha512": "zz"})); err == nil {
		t.Fatal("malformed sha512 accepted")
	}
	if _, err := ParseStatement(statementOf(map[string]string{"gitCommit": strings.Repeat("a", 40)})); err == nil || !strings.Contains(err.Error(), "no sha256, sha384 or sha512") {
		t.Fatalf("no known algorithm: %v", err)
	}
	if _, err := ParseStatement(statementOf(map[string]string{"sha256": "zz", "sha512": s512})); err == nil {
		t.Fatal("malformed sha256 accepted")
	}
	for _, d := range []string{"sha256:" + s256, "sha384:" + s384, "sha512:" + s512} {
		if err := ValidateSubjectDigest(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	for _, d := range []string{"sha512:" + s256, "md5:00", "sha384:" + strings.ToUpper(s384), "sha256"} {
		if err := ValidateSubjectDigest(d); err == nil {
			t.Errorf("%s accepted", d)
		}
	}
}

// TestAttachBodyToOldLeaf checks that a leaf written before sha384 and
// sha512 subjects were recognized (its subjects are the statement's sha256
// ones only) still takes its statement: auditors replay old logs.
func TestAttachBodyToOldLeaf(t *testing.T) {
	s256, _, s512 := hexSum([]byte("tarball"))
	payload := statementOf(map[string]string{"sha256": s256, "sha512": s512})
	k := mustKey(t, keys.Ed25519)
	env, _ := Sign(InTotoPayloadType, payload, k)
	// The leaf exactly as the previous version wrote it.
	old := fmt.Sprintf(`{"v":1,"time":"2026-11-25T18:00:15.123Z","attestation":{"payloadType":%q,"payloadDigest":%q,"payloadSize":%d,"predicateType":"https://example.com/p/v1","subjects":["sha256:%s"],"signatures":[{"keyid":%q,"sig":%q,"signer":%q}]}}`,
		InTotoPayloadType, Digest(payload), len(payload), s256, env.Signatures[0].KeyID, env.Signatures[0].Sig, k.ID())
	e, err := ParseLeaf([]byte(old))
	if err != nil {
		t.Fatalf("old leaf: %v", err)
	}
	if err := e.AttachBody(payload); err != nil {
		t.Fatalf("old leaf's statement: %v", err)
	}
	if err := e.Verify(func(string) (*keys.PublicKey, error) { return k.Public(), nil }); err != nil {
		t.Fatal(err)
	}
	// A new entry lists both digests.
	e2, err := NewAttestationEntry(env, payload, []string{k.ID()}, func(string) (*keys.PublicKey, error) { return k.Public(), nil })
	if err != nil || len(e2.Attestation.Subjects) != 2 {
		t.Fatalf("new entry: %+v %v", e2, err)
	}
}

// TestReleaseLeafDigests checks the digests a release leaf carries beside
// its record: canonical, only on release and promote records, well formed.
func TestReleaseLeafDigests(t *testing.T) {
	k := mustKey(t, keys.Ed25519)
	s256, s384, s512 := hexSum([]byte("content"))
	sz := int64(7)
	rel := &Record{Type: TypeRelease, Package: "acme/widget", Prev: Hash([]byte("x")), Version: "1.0.0", Digest: "sha256:" + s256,
		Size: &sz, MediaType: "application/gzip", Channel: ChannelPublished, Time: "2026-01-01T00:00:00Z"}
	e := signedEntry(t, rel, k)
	e.ContentDigests = []string{"sha384:" + s384, "sha512:" + s512}
	when := time.Date(2026, 11, 25, 17, 0, 0, 5, time.UTC)
	leaf, err := e.Leaf(when)
	if err != nil {
		t.Fatal(err)
	}
	var l Leaf
	if err := json.Unmarshal(leaf, &l); err != nil {
		t.Fatal(err)
	}
	if std, _ := json.Marshal(l); string(std) != string(leaf) {
		t.Fatalf("leaf is not json.Marshal(Leaf):\n%s\n%s", leaf, std)
	}
	back, err := ParseLeaf(leaf)
	if err != nil || len(back.ContentDigests) != 2 || back.ContentDigests[1] != "sha512:"+s512 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	// Without digests, the leaf is byte for byte what it always was.
	e.ContentDigests = nil
	plain, _ := e.Leaf(when)
	if strings.Contains(string(plain), "digests") {
		t.Fatalf("leaf without digests: %s", plain)
	}
	bad := map[string]string{
		"unsorted":      strings.Replace(string(leaf), `"sha384:`+s384+`","sha512:`+s512+`"`, `"sha512:`+s512+`","sha384:`+s384+`"`, 1),
		"sha256":        strings.Replace(string(leaf), `"sha384:`+s384+`"`, `"sha256:`+s256+`"`, 1),
		"malformed":     strings.Replace(string(leaf), `"sha384:`+s384+`"`, `"sha384:00"`, 1),
		"empty":         strings.Replace(string(leaf), `"sha384:`+s384+`","sha512:`+s512+`"`, ``, 1),
		"not a release": string(mustLeaf(t, signedEntry(t, &Record{Type: TypeIdentity, PublicKey: k.Public().Base64(), Time: "2026-01-01T00:00:00Z"}, k), "sha512:"+s512)),
	}
	for name, b := range bad {
		if _, err := ParseLeaf([]byte(b)); err == nil {
			t.Errorf("%s: leaf accepted: %s", name, b)
		}
	}
}

func mustLeaf(t *testing.T, e *Entry, digests ...string) []byte {
	e.ContentDigests = digests
	b, err := e.Leaf(time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeylessEntry checks the leaf of a keyless attestation: no signatures,
// a bundle reference, canonical, never verified by registered keys.
func TestKeylessEntry(t *testing.T) {
	s256, _, _ := hexSum([]byte("tarball"))
	payload := statementOf(map[string]string{"sha256": s256})
	doc := []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)
	ref := BundleRef{MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json", Content: BundleDSSE,
		Sig: base64.StdEncoding.EncodeToString([]byte("sig")), Signer: SignerKeyless, TrustedRoot: Digest([]byte("root"))}
	e, err := NewKeylessEntry(payload, doc, ref)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := e.Leaf(time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(leaf), `"signatures"`) || !strings.Contains(string(leaf), `"bundle":{"digest":"`+Digest(doc)) {
		t.Fatalf("keyless leaf: %s", leaf)
	}
	back, err := ParseLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(func(string) (*keys.PublicKey, error) { return nil, nil }); !errors.Is(err, ErrKeyless) {
		t.Fatalf("Verify of a keyless entry: %v", err)
	}
	if err := back.AttachBody(payload); err != nil {
		t.Fatal(err)
	}
	if err := back.AttachBundle([]byte(`{}`)); err == nil {
		t.Fatal("a bundle with another digest attached")
	}
	if err := back.AttachBundle(doc); err != nil {
		t.Fatal(err)
	}
	// Two signings of the same statement are two attestations.
	ref.Sig = base64.StdEncoding.EncodeToString([]byte("other sig"))
	e2, _ := NewKeylessEntry(payload, doc, ref)
	if e2.Attestation.DedupKey() == e.Attestation.DedupKey() {
		t.Fatal("dedup key ignores the signature")
	}
	// A keyless reference with signatures, or an unknown signer kind, is malformed.
	withSig := strings.Replace(string(leaf), `"subjects":["sha256:`+s256+`"]`, `"subjects":["sha256:`+s256+`"],"signatures":[{"keyid":"","sig":"c2ln","signer":"`+mustKey(t, keys.Ed25519).ID()+`"}]`, 1)
	if _, err := ParseLeaf([]byte(withSig)); err == nil {
		t.Fatal("keyless leaf with signatures accepted")
	}
	if _, err := ParseLeaf([]byte(strings.Replace(string(leaf), `"signer":"keyless"`, `"signer":"someone"`, 1))); err == nil {
		t.Fatal("unknown signer kind accepted")
	}
}
