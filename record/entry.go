package record

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch/keys"
)

// MaxLeafSize is the largest log entry: entry bundles prefix each entry with
// a 16-bit length.
const MaxLeafSize = 1<<16 - 1

// checkLeafFits checks that e's leaf fits in MaxLeafSize whatever log time
// it is given (the longest RFC 3339 time with nanoseconds).
func checkLeafFits(e *Entry) error {
	leaf, err := e.Leaf(e.Time)
	if err != nil {
		return err
	}
	if len(leaf)+len(`"2006-01-02T15:04:05.999999999Z"`) > MaxLeafSize {
		return &TooLargeError{Size: len(leaf)}
	}
	return nil
}

// LeafVersion is the version of the leaf format written by this code.
const LeafVersion = 1

// Leaf is the JSON object stored in the log for every entry. Exactly one of
// Record and Attestation is set. Digests, optional, go with a release or
// promote record: the registry's digests of the release's content besides
// its sha256 (see Entry.ContentDigests).
type Leaf struct {
	V           int             `json:"v"`
	Time        string          `json:"time"`
	Record      *dsse.Envelope  `json:"record,omitempty"`
	Attestation *AttestationRef `json:"attestation,omitempty"`
	Import      *ImportRef      `json:"import,omitempty"`
	Digests     []string        `json:"digests,omitempty"`
}

// Kind says what an entry holds.
type Kind string

// Entry kinds.
const (
	KindRecord      Kind = "record"
	KindAttestation Kind = "attestation"
	KindImport      Kind = "import"
)

// Entry is a parsed log entry: a registry record, or a reference to an
// attestation. Entries are created from a submission (NewRecordEntry) or
// from leaf bytes read back from the log (ParseLeaf).
type Entry struct {
	// Time is the registry's log time for the entry; zero until sequenced.
	Time time.Time
	// Envelope is the canonical signed envelope of a record.
	Envelope *dsse.Envelope
	// Payload is the decoded payload of Envelope.
	Payload []byte
	// Record is the parsed payload of a registry record.
	Record *Record
	// Attestation describes an attestation entry.
	Attestation *AttestationRef
	// Statement is the parsed statement of an attestation whose body is
	// present.
	Statement *Statement
	// Import describes an entry imported from another log, and Inner is
	// that entry, parsed.
	Import *ImportRef
	Inner  *Entry
	// Bundle is the document (Sigstore bundle or PEP 740 attestation) of a
	// keyless attestation, when present (it is kept off the log).
	Bundle []byte
	// ContentDigests are, for a release or promote record, the sha384 and
	// sha512 digests of the release's content, computed by the registry
	// from the bytes it holds and written in the leaf beside the signed
	// record (the record names the content by sha256 only). Statements may
	// name the content by any of them.
	ContentDigests []string

	envJSON []byte
	signers []string
}

// Kind returns the entry's kind.
func (e *Entry) Kind() Kind {
	switch {
	case e.Import != nil:
		return KindImport
	case e.Attestation != nil:
		return KindAttestation
	}
	return KindRecord
}

// Hash returns the record hash (see Hash) of a record entry, or of the
// record an import holds.
func (e *Entry) Hash() string {
	if e.Import != nil {
		return e.Inner.Hash()
	}
	return Hash(e.Payload)
}

// NewRecordEntry parses a canonical record envelope (see ParseEnvelope) and
// its decoded payload into an entry.
func NewRecordEntry(env *dsse.Envelope, payload []byte) (*Entry, error) {
	if env.PayloadType != PayloadType {
		return nil, syntaxf("payloadType %q is not a registry record (%s)", env.PayloadType, PayloadType)
	}
	r, err := Parse(payload)
	if err != nil {
		return nil, err
	}
	for i, s := range env.Signatures {
		if !keys.ValidID(s.KeyID) {
			return nil, syntaxf("signature %d: keyid %q must be the signing key's ID (sha256:<hex>)", i+1, s.KeyID)
		}
		for _, o := range env.Signatures[:i] {
			if o.KeyID == s.KeyID {
				return nil, syntaxf("two signatures by key %s", s.KeyID)
			}
		}
	}
	envJSON, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	e := &Entry{Envelope: env, Payload: payload, Record: r, envJSON: envJSON}
	if n := len(e.leafPrefix(time.Time{})) + len(envJSON) + 1 + len(time.RFC3339Nano); n > MaxLeafSize {
		return nil, &TooLargeError{Size: n}
	}
	return e, nil
}

// TooLargeError reports an entry (or a record payload) over its limit.
type TooLargeError struct {
	Size  int
	Limit int    // default MaxLeafSize
	What  string // default "entry"
}

func (e *TooLargeError) Error() string {
	what, limit := e.What, e.Limit
	if what == "" {
		what, limit = "entry", MaxLeafSize
	}
	return fmt.Sprintf("%s is %d bytes; the limit is %d", what, e.Size, limit)
}

func (e *Entry) leafPrefix(t time.Time) []byte {
	b := []byte(`{"v":` + strconv.Itoa(LeafVersion) + `,"time":`)
	b = strconv.AppendQuote(b, t.UTC().Format(time.RFC3339Nano))
	return b
}

// Leaf encodes the entry's leaf with log time t and records t in e.Time.
// The encoding is the same as json.Marshal of a Leaf.
func (e *Entry) Leaf(t time.Time) ([]byte, error) {
	e.Time = t.UTC()
	if e.Import != nil {
		return importLeaf(e.Time.Format(time.RFC3339Nano), e.Import)
	}
	if e.Attestation != nil {
		return json.Marshal(Leaf{V: LeafVersion, Time: e.Time.Format(time.RFC3339Nano), Attestation: e.Attestation})
	}
	b := e.leafPrefix(t)
	b = append(b, `,"record":`...)
	b = append(b, e.envJSON...)
	if len(e.ContentDigests) > 0 {
		b = append(b, `,"digests":[`...)
		for i, d := range e.ContentDigests {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, d)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	if len(b) > MaxLeafSize {
		return nil, &TooLargeError{Size: len(b)}
	}
	return b, nil
}

// ParseLeaf parses leaf bytes read from the log. It checks everything that
// can be checked without state: the leaf format, the envelope and the record
// syntax. Signatures are checked by Verify.
func ParseLeaf(b []byte) (*Entry, error) {
	if len(b) > MaxLeafSize {
		return nil, &TooLargeError{Size: len(b)}
	}
	var l Leaf
	if err := unmarshalStrict(b, &l); err != nil {
		return nil, syntaxf("leaf: %v", err)
	}
	if l.V != LeafVersion {
		return nil, syntaxf("leaf: unknown version %d", l.V)
	}
	t, err := time.Parse(time.RFC3339Nano, l.Time)
	if err != nil {
		return nil, syntaxf("leaf: bad time %q", l.Time)
	}
	switch {
	case l.Import != nil && l.Record == nil && l.Attestation == nil:
		e, err := parseImportLeaf(&l, b)
		if err != nil {
			return nil, err
		}
		e.Time = t
		return e, nil
	case l.Record != nil && l.Attestation == nil && l.Import == nil:
		env, payload, err := CanonicalEnvelope(l.Record)
		if err != nil {
			return nil, err
		}
		e, err := NewRecordEntry(env, payload)
		if err != nil {
			return nil, err
		}
		if len(l.Digests) > 0 {
			if e.Record.Type != TypeRelease && e.Record.Type != TypePromote {
				return nil, syntaxf("leaf: digests go with release and promote records only")
			}
			if err := ValidateContentDigests(l.Digests); err != nil {
				return nil, syntaxf("leaf: %v", err)
			}
			e.ContentDigests = l.Digests
		}
		e.Time = t
		if nb, err := e.Leaf(t); err != nil || !bytes.Equal(nb, b) {
			return nil, syntaxf("leaf is not in canonical form")
		}
		return e, nil
	case l.Attestation != nil && l.Record == nil && l.Import == nil:
		if l.Digests != nil {
			return nil, syntaxf("leaf: digests go with release and promote records only")
		}
		if err := l.Attestation.Validate(); err != nil {
			return nil, err
		}
		e := &Entry{Time: t, Attestation: l.Attestation}
		if nb, err := e.Leaf(t); err != nil || !bytes.Equal(nb, b) {
			return nil, syntaxf("leaf is not in canonical form")
		}
		return e, nil
	}
	return nil, syntaxf("leaf must hold exactly one of record, attestation and import")
}

// KeyLookup returns the public key registered under a key ID, or nil if no
// key is registered under it.
type KeyLookup func(keyID string) (*keys.PublicKey, error)

// EmbeddedKeys returns the public keys a record introduces itself (identity,
// identity-rotate and genesis records), which may sign it.
func (r *Record) EmbeddedKeys() []*keys.PublicKey {
	var out []*keys.PublicKey
	for _, s := range append([]string{r.PublicKey}, r.PublicKeys...) {
		if s == "" {
			continue
		}
		if p, err := keys.ParsePublicBase64(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Verified reports whether every signature of a record entry has been
// checked.
func (e *Entry) Verified() bool { return e.signers != nil }

// Signers returns the key IDs of the signatures, once verified.
func (e *Entry) Signers() []string { return e.signers }

// KeyIDs returns the key IDs the entry names as its signers, verified or
// not: for a record, the keyid of each envelope signature; for an
// attestation, the registered signer of each. Verify checks signature i
// against key KeyIDs()[i].
func (e *Entry) KeyIDs() []string {
	if e.Import != nil {
		return e.Inner.KeyIDs()
	}
	if e.Attestation != nil {
		return e.Attestation.Signers()
	}
	out := make([]string, len(e.Envelope.Signatures))
	for i, s := range e.Envelope.Signatures {
		out[i] = s.KeyID
	}
	return out
}

// Verify checks every signature of an entry. For a record, keys are
// looked up first among the keys the record embeds, then with lookup. For an
// attestation, signature i is checked against the key of its recorded
// signer; the body must be present (see AttachBody). Every signature must
// verify; a signature by an unknown key yields *UnknownKeyError, a bad one
// *SignatureError. Once Verify succeeds, later calls return at once.
func (e *Entry) Verify(lookup KeyLookup) error {
	if e.Import != nil && e.signers == nil {
		// The source log's proof and signature first, then the imported
		// entry's own signatures.
		if err := e.Import.Verify(); err != nil {
			return err
		}
		if err := e.Inner.Verify(lookup); err != nil {
			return err
		}
		e.signers = e.Inner.signers
		return nil
	}
	if e.signers != nil {
		return nil
	}
	if e.Attestation != nil && e.Attestation.Bundle != nil {
		return ErrKeyless
	}
	if e.Envelope == nil {
		return ErrNoBody
	}
	signers := e.KeyIDs()
	keyOf := e.keyResolver(lookup)
	for i, want := range signers {
		p, err := keyOf(want)
		if err != nil {
			return err
		}
		if err := VerifySignature(e.Envelope, i, p); err != nil {
			return err
		}
	}
	e.signers = signers
	return nil
}

// keyResolver returns how Verify finds a signer's key: among the keys the
// record embeds first, then with lookup.
func (e *Entry) keyResolver(lookup KeyLookup) func(id string) (*keys.PublicKey, error) {
	var embedded []*keys.PublicKey
	if e.Record != nil {
		embedded = e.Record.EmbeddedKeys()
	}
	return func(id string) (*keys.PublicKey, error) {
		var p *keys.PublicKey
		for _, k := range embedded {
			if k.ID() == id {
				p = k
			}
		}
		if p == nil {
			var err error
			if p, err = lookup(id); err != nil {
				return nil, err
			}
		}
		if p == nil {
			return nil, &UnknownKeyError{KeyID: id}
		}
		return p, nil
	}
}

// ErrNoBody is returned by Verify for an attestation read from the log
// without its statement.
var ErrNoBody = &SyntaxError{Msg: "the attestation's statement is not available"}

// parseLeafTime parses a leaf's log time.
func parseLeafTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// Unwrap returns the entry whose content this entry carries: the imported
// entry for an import, the entry itself otherwise.
func (e *Entry) Unwrap() *Entry {
	if e.Import != nil {
		return e.Inner
	}
	return e
}

// ErrKeyless is returned by Verify for a keyless attestation: it was signed
// with a short-lived certificate, not a registered key, and is verified
// against a Sigstore trusted root by package sigstore.
var ErrKeyless = errors.New("a keyless attestation is verified against a Sigstore trusted root, not registered keys")

// VerifyBatch verifies the signatures of entries as Verify does, checking
// their Ed25519 signatures together in one keys.Batch, which costs about
// half as much per signature; other signatures are checked one by one. It
// reports nothing: an entry it verified returns at once from Verify, and
// any other (an unknown key, a bad signature anywhere in the batch, an
// import, a keyless attestation, an attestation without its statement) is
// left for Verify to check and explain. For auditors and mirrors, which
// check every signature of a log.
func VerifyBatch(entries []*Entry, lookup KeyLookup) {
	var b keys.Batch
	var batched []*Entry
	var signers [][]string
	for _, e := range entries {
		if e == nil || e.signers != nil || e.Import != nil || e.Envelope == nil || e.Attestation != nil && e.Attestation.Bundle != nil {
			continue
		}
		ids, ok := e.batchSignatures(&b, lookup)
		if ok {
			batched = append(batched, e)
			signers = append(signers, ids)
		}
	}
	if len(batched) == 0 || !b.Verify() {
		return
	}
	for i, e := range batched {
		e.signers = signers[i]
	}
}

// batchSignatures adds e's Ed25519 signatures to b and checks the others,
// and reports whether e is verified once b is. It resolves keys as Verify
// does.
func (e *Entry) batchSignatures(b *keys.Batch, lookup KeyLookup) ([]string, bool) {
	payload, err := e.Envelope.DecodeB64Payload()
	if err != nil {
		return nil, false
	}
	pae := dsse.PAE(e.Envelope.PayloadType, payload)
	signers := e.KeyIDs()
	if len(signers) != len(e.Envelope.Signatures) {
		return nil, false
	}
	keyOf := e.keyResolver(lookup)
	for i, want := range signers {
		p, err := keyOf(want)
		if err != nil {
			return nil, false
		}
		sig, err := base64.StdEncoding.DecodeString(e.Envelope.Signatures[i].Sig)
		if err != nil {
			return nil, false
		}
		if !b.Add(p, pae, sig) && !p.Verify(pae, sig) {
			return nil, false
		}
	}
	return signers, true
}
