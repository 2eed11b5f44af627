package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"

	attestation "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vouchdev/vouch/keys"
)

// InTotoPayloadType is the DSSE payload type of in-toto statements.
const InTotoPayloadType = "application/vnd.in-toto+json"

// MaxSubjects is the most subject digests an attestation may name (they
// are all written to the log).
const MaxSubjects = 256

// Statement is the part of an in-toto Statement v1 Vouch works with.
type Statement struct {
	PredicateType string
	// Subjects are the statement's subject digests by the algorithms
	// Vouch knows (SubjectAlgorithms), "<alg>:<hex>", sorted and without
	// duplicates. Digests by other algorithms are ignored.
	Subjects []string
	// RawPredicate is the predicate object's JSON, as signed. Predicate
	// decodes it when it is needed: most predicates are only stored, and a
	// large one costs many times its size once decoded.
	RawPredicate json.RawMessage

	once sync.Once
	pred map[string]any
}

// Predicate returns the predicate, decoded (once). A predicate that
// encoding/json cannot hold (a number beyond float64) decodes to nil.
func (s *Statement) Predicate() map[string]any {
	s.once.Do(func() {
		var m map[string]any
		if json.Unmarshal(s.RawPredicate, &m) == nil {
			s.pred = m
		}
	})
	return s.pred
}

// statementJSON is the top level of an in-toto Statement, with the
// subjects and the predicate left undecoded.
type statementJSON struct {
	Type          string          `json:"_type"`
	Subject       json.RawMessage `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// ParseStatement parses and validates an in-toto Statement v1. The
// statement's frame (type, subjects, predicate type) is validated by the
// in-toto attestation library; the predicate must be a JSON object and is
// kept as it is (see Statement.Predicate), so that parsing costs little
// more memory than the statement's own bytes.
func ParseStatement(payload []byte) (*Statement, error) {
	st, err := parseStatement(payload)
	if err != nil {
		return nil, err
	}
	if len(st.Subjects) > MaxSubjects {
		return nil, syntaxf("statement names %d subject digests; the limit is %d", len(st.Subjects), MaxSubjects)
	}
	return st, nil
}

// parseStatement is ParseStatement without the limit on subjects, which
// AttachBody checks its own way.
func parseStatement(payload []byte) (*Statement, error) {
	var sj statementJSON
	sc, _ := schemaFor(reflect.TypeOf(&sj))
	if err := checkJSONKeys(payload, sc); err != nil {
		return nil, syntaxf("statement: %v", err)
	}
	if err := json.Unmarshal(payload, &sj); err != nil {
		return nil, syntaxf("statement is not an in-toto Statement: %v", err)
	}
	if len(sj.Predicate) == 0 || sj.Predicate[0] != '{' {
		return nil, syntaxf("statement: %v", attestation.ErrPredicateRequired)
	}
	frame, _ := json.Marshal(map[string]any{"_type": sj.Type, "subject": sj.Subject, "predicateType": sj.PredicateType, "predicate": struct{}{}})
	var st attestation.Statement
	if err := protojson.Unmarshal(frame, &st); err != nil {
		return nil, syntaxf("statement is not an in-toto Statement: %v", err)
	}
	if err := st.Validate(); err != nil {
		return nil, syntaxf("statement: %v", err)
	}
	out := &Statement{PredicateType: st.GetPredicateType(), RawPredicate: sj.Predicate}
	if err := ValidatePredicateType(out.PredicateType); err != nil {
		return nil, syntaxf("statement: %v", err)
	}
	for _, s := range st.GetSubject() {
		for _, alg := range SubjectAlgorithms {
			h, ok := s.GetDigest()[alg.Name]
			if !ok {
				continue
			}
			d := alg.Name + ":" + strings.ToLower(h)
			if err := ValidateSubjectDigest(d); err != nil {
				return nil, syntaxf("statement subject: %v", err)
			}
			out.Subjects = append(out.Subjects, d)
		}
	}
	slices.Sort(out.Subjects)
	out.Subjects = slices.Compact(out.Subjects)
	if len(out.Subjects) == 0 {
		return nil, syntaxf("statement has no sha256, sha384 or sha512 subject digest")
	}
	return out, nil
}

// ValidatePredicateType checks a statement's predicate type: an absolute
// URI (in-toto requires a TypeURI), at most 1024 bytes.
func ValidatePredicateType(s string) error {
	if s == "" || len(s) > 1024 {
		return fmt.Errorf("predicateType must be 1 to 1024 bytes")
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" && u.Opaque == "" {
		return fmt.Errorf("predicateType %q is not an absolute URI (e.g. https://slsa.dev/provenance/v1)", s)
	}
	return nil
}

// AttestationRef is what the log holds about an attestation: everything
// public and verifiable, but not the statement itself, which the registry
// keeps off the log where it can be erased.
//
// An attestation signed by registered keys lists its Signatures. One that
// came as a Sigstore bundle signed with a short-lived certificate
// ("keyless") has no Signatures but a Bundle: the certificate names a
// person or a CI workflow, so the bundle is kept off the log with the
// statement, and the log holds its digest.
type AttestationRef struct {
	PayloadType   string         `json:"payloadType"`
	PayloadDigest string         `json:"payloadDigest"`
	PayloadSize   int64          `json:"payloadSize"`
	PredicateType string         `json:"predicateType"`
	Subjects      []string       `json:"subjects"`
	Signatures    []AttestSigRef `json:"signatures,omitempty"`
	Bundle        *BundleRef     `json:"bundle,omitempty"`
}

// Signer kinds of a BundleRef.
const (
	// SignerKeyless is a bundle signed with a short-lived certificate
	// bound to an OIDC identity.
	SignerKeyless = "keyless"
)

// Bundle content kinds.
const (
	// BundleDSSE is a DSSE envelope whose payload is the statement.
	BundleDSSE = "dsse"
	// BundleMessageSignature is a signature over an artifact's digest; the
	// statement is derived from the bundle (see package sigstore).
	BundleMessageSignature = "message-signature"
)

// PEP740MediaType names a PEP 740 attestation object (PyPI), which has no
// media type of its own, in a BundleRef.
const PEP740MediaType = "application/vnd.pypi.attestation.v1+json"

// BundleRef is what the log holds about a Sigstore bundle (or a PEP 740
// attestation) kept off the log: nothing that identifies its signer.
type BundleRef struct {
	// Digest is "sha256:<hex>" of the document exactly as submitted.
	Digest string `json:"digest"`
	// MediaType is the bundle's media type (PEP740MediaType for a PEP 740
	// attestation).
	MediaType string `json:"mediaType"`
	// Content is BundleDSSE or BundleMessageSignature.
	Content string `json:"content"`
	// Sig is the bundle's signature, standard base64: what makes one
	// signing of a statement distinct from another (replay protection).
	Sig string `json:"sig"`
	// Signer is SignerKeyless.
	Signer string `json:"signer"`
	// TrustedRoot is "sha256:<hex>" of the trusted_root.json file the
	// registry verified the bundle against.
	TrustedRoot string `json:"trustedRoot"`
}

// Validate checks a bundle reference read from a leaf.
func (b *BundleRef) Validate() error {
	if err := ValidateDigest(b.Digest); err != nil {
		return syntaxf("attestation: bundle digest: %v", err)
	}
	if err := ValidateMediaType(b.MediaType); err != nil {
		return syntaxf("attestation: bundle mediaType: %v", err)
	}
	if b.Content != BundleDSSE && b.Content != BundleMessageSignature {
		return syntaxf("attestation: bundle content must be %s or %s", BundleDSSE, BundleMessageSignature)
	}
	if sig, err := base64.StdEncoding.Strict().DecodeString(b.Sig); err != nil || len(sig) == 0 || len(sig) > 1024 {
		return syntaxf("attestation: bundle sig is not base64")
	}
	if b.Signer != SignerKeyless {
		return syntaxf("attestation: bundle signer must be %q", SignerKeyless)
	}
	if err := ValidateDigest(b.TrustedRoot); err != nil {
		return syntaxf("attestation: bundle trustedRoot: %v", err)
	}
	return nil
}

// AttestSigRef is one signature of an attestation envelope, as it was made
// (keyid as the signing tool labelled it), with the Vouch key ID of the
// registered key that verified it.
type AttestSigRef struct {
	KeyID  string `json:"keyid"`
	Sig    string `json:"sig"`
	Signer string `json:"signer"`
}

// Validate checks an attestation reference read from a leaf.
func (a *AttestationRef) Validate() error {
	if a.PayloadType != InTotoPayloadType {
		return syntaxf("attestation: payloadType must be %s", InTotoPayloadType)
	}
	if err := ValidateDigest(a.PayloadDigest); err != nil {
		return syntaxf("attestation: payloadDigest: %v", err)
	}
	if a.PayloadSize < 0 {
		return syntaxf("attestation: negative payloadSize")
	}
	if err := ValidatePredicateType(a.PredicateType); err != nil {
		return syntaxf("attestation: %v", err)
	}
	if len(a.Subjects) == 0 || len(a.Subjects) > MaxSubjects {
		return syntaxf("attestation: 1 to %d subjects", MaxSubjects)
	}
	for i, s := range a.Subjects {
		if err := ValidateSubjectDigest(s); err != nil {
			return syntaxf("attestation: subject: %v", err)
		}
		if i > 0 && s <= a.Subjects[i-1] {
			return syntaxf("attestation: subjects must be sorted and distinct")
		}
	}
	if a.Bundle != nil {
		if len(a.Signatures) > 0 {
			return syntaxf("attestation: a keyless bundle has no registered signers")
		}
		return a.Bundle.Validate()
	}
	if len(a.Signatures) == 0 || len(a.Signatures) > MaxSignatures {
		return syntaxf("attestation: 1 to %d signatures", MaxSignatures)
	}
	seen := map[string]bool{}
	for i, s := range a.Signatures {
		if !keys.ValidID(s.Signer) {
			return syntaxf("attestation: signature %d: signer is not a key ID", i+1)
		}
		if seen[s.Signer] {
			return syntaxf("attestation: two signatures by %s", s.Signer)
		}
		seen[s.Signer] = true
		if len(s.KeyID) > maxKeyIDLen {
			return syntaxf("attestation: signature %d: keyid is too long", i+1)
		}
		if b, err := base64.StdEncoding.DecodeString(s.Sig); err != nil || len(b) == 0 || len(b) > 1024 {
			return syntaxf("attestation: signature %d is not base64", i+1)
		}
	}
	return nil
}

// Signers returns the key IDs of the registered keys that made the
// signatures, in signature order (none for a keyless bundle).
func (a *AttestationRef) Signers() []string {
	out := make([]string, len(a.Signatures))
	for i, s := range a.Signatures {
		out[i] = s.Signer
	}
	return out
}

// DedupKey identifies an attestation for replay protection: the same
// statement signed by the same set of keys is logged once.
//
// A keyless bundle has no registered signers: the same statement with the
// same signature is logged once.
func (a *AttestationRef) DedupKey() string {
	if a.Bundle != nil {
		h := sha256.Sum256([]byte(a.PayloadDigest + "\nbundle-sig " + a.Bundle.Sig))
		return "sha256:" + hex.EncodeToString(h[:])
	}
	signers := a.Signers()
	slices.Sort(signers)
	h := sha256.Sum256([]byte(a.PayloadDigest + "\n" + strings.Join(signers, ",")))
	return "sha256:" + hex.EncodeToString(h[:])
}

// NewAttestationEntry builds the entry for an in-toto envelope (canonical,
// see CanonicalEnvelope) whose signature i was made by the registered key
// signers[i], whose public key lookup finds. Every signature is checked
// before the statement is parsed, so a statement nobody registered signed
// costs no more than its signature checks; the entry comes back verified.
func NewAttestationEntry(env *dsse.Envelope, payload []byte, signers []string, lookup KeyLookup) (*Entry, error) {
	if env.PayloadType != InTotoPayloadType {
		return nil, syntaxf("payloadType %q is not an in-toto statement (%s)", env.PayloadType, InTotoPayloadType)
	}
	if len(signers) != len(env.Signatures) {
		return nil, syntaxf("every signature needs a signer")
	}
	e := &Entry{Envelope: env, Payload: payload, Attestation: &AttestationRef{Signatures: make([]AttestSigRef, len(signers))}}
	for i, s := range env.Signatures {
		e.Attestation.Signatures[i] = AttestSigRef{KeyID: s.KeyID, Sig: s.Sig, Signer: signers[i]}
	}
	if err := e.Verify(lookup); err != nil {
		return nil, err
	}
	st, err := ParseStatement(payload)
	if err != nil {
		return nil, err
	}
	ref := e.Attestation
	ref.PayloadType, ref.PayloadDigest, ref.PayloadSize = env.PayloadType, Digest(payload), int64(len(payload))
	ref.PredicateType, ref.Subjects = st.PredicateType, st.Subjects
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	e.Statement = st
	if err := checkLeafFits(e); err != nil {
		return nil, err
	}
	return e, nil
}

// NewKeylessEntry builds the entry of an attestation that came as a
// keyless Sigstore bundle, once package sigstore has verified the bundle
// against a trusted root: payload is the statement (the DSSE payload, or
// the statement derived from a message signature), doc the document as
// submitted, and ref what the log says about it (its Digest is set here).
// The entry's signatures are not checked here: record knows registered
// keys, not certificate authorities.
func NewKeylessEntry(payload, doc []byte, ref BundleRef) (*Entry, error) {
	st, err := ParseStatement(payload)
	if err != nil {
		return nil, err
	}
	ref.Digest = Digest(doc)
	a := &AttestationRef{PayloadType: InTotoPayloadType, PayloadDigest: Digest(payload), PayloadSize: int64(len(payload)),
		PredicateType: st.PredicateType, Subjects: st.Subjects, Bundle: &ref}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	e := &Entry{Payload: payload, Attestation: a, Statement: st, Bundle: doc}
	if err := checkLeafFits(e); err != nil {
		return nil, err
	}
	return e, nil
}

// AttachBody gives an attestation entry read from the log its statement
// (the payload kept off the log), so that its signatures can be
// checked: the payload must have the digest and size the log holds, and
// say what the log says it says.
//
// A leaf written before sha384 and sha512 subjects were recognized lists
// the statement's sha256 subjects only; that is accepted too.
func (e *Entry) AttachBody(payload []byte) error {
	a := e.Attestation
	if a == nil {
		return syntaxf("not an attestation")
	}
	if Digest(payload) != a.PayloadDigest || int64(len(payload)) != a.PayloadSize {
		return syntaxf("statement body does not have the digest the log holds")
	}
	st, err := parseStatement(payload)
	if err != nil {
		return err
	}
	if st.PredicateType != a.PredicateType || !slices.Equal(st.Subjects, a.Subjects) && !slices.Equal(sha256Only(st.Subjects), a.Subjects) {
		return syntaxf("statement body does not match the log's predicate type and subjects")
	}
	st.Subjects = a.Subjects
	e.Payload, e.Statement = payload, st
	if a.Bundle != nil {
		return nil // the bundle is attached with AttachBundle
	}
	env := &dsse.Envelope{PayloadType: a.PayloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	for _, s := range a.Signatures {
		env.Signatures = append(env.Signatures, dsse.Signature{KeyID: s.KeyID, Sig: s.Sig})
	}
	e.Envelope = env
	return nil
}

// AttachBundle gives a keyless attestation entry read from the log its
// bundle (kept off the log), which must have the digest the log holds. The
// bundle's signatures are checked by package sigstore, against a trusted
// root.
func (e *Entry) AttachBundle(doc []byte) error {
	a := e.Attestation
	if a == nil || a.Bundle == nil {
		return syntaxf("not a keyless attestation")
	}
	if Digest(doc) != a.Bundle.Digest {
		return syntaxf("bundle does not have the digest the log holds")
	}
	e.Bundle = doc
	return nil
}

// IsKeylessLeaf reports, without parsing it, whether leaf bytes are a
// keyless attestation's (for indexes that need to know cheaply).
func IsKeylessLeaf(leaf []byte) bool {
	return bytes.Contains(leaf, []byte(`,"bundle":{"digest":`))
}

func sha256Only(ds []string) []string {
	var out []string
	for _, d := range ds {
		if strings.HasPrefix(d, "sha256:") {
			out = append(out, d)
		}
	}
	return out
}

// EnvelopeJSON returns the attestation's DSSE envelope as submitted (needs
// the body).
func (e *Entry) EnvelopeJSON() ([]byte, error) {
	if e.Envelope == nil {
		return nil, syntaxf("no body")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e.Envelope); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b.Bytes()), nil
}
