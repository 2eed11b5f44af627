package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/sigstore"
	"github.com/vouchdev/vouch/translog"
)

// QueryParams are the filters of the query over every entry (see
// docs/api.md); empty fields do not filter.
type QueryParams struct {
	Package, Version, Subject, Signer, PredicateType, Kind, Type, State string
	// Identity selects keyless attestations by signer: "SUBJECT" or
	// "ISSUER SUBJECT", "*" matching any run of characters.
	Identity             string
	Where, Order, Cursor string
	Since, Until         time.Time
	From, To             uint64
	Limit                int
	Predicate            bool
	At                   At
}

func (p *QueryParams) values() url.Values {
	q := p.At.values()
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("package", p.Package)
	set("version", p.Version)
	set("subject", p.Subject)
	set("signer", p.Signer)
	set("identity", p.Identity)
	set("predicateType", p.PredicateType)
	set("kind", p.Kind)
	set("type", p.Type)
	set("state", p.State)
	set("where", p.Where)
	set("order", p.Order)
	set("cursor", p.Cursor)
	if !p.Since.IsZero() {
		q.Set("since", p.Since.UTC().Format(time.RFC3339Nano))
	}
	if !p.Until.IsZero() {
		q.Set("until", p.Until.UTC().Format(time.RFC3339Nano))
	}
	if p.From > 0 {
		q.Set("from", strconv.FormatUint(p.From, 10))
	}
	if p.To > 0 {
		q.Set("to", strconv.FormatUint(p.To, 10))
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Predicate {
		q.Set("predicate", "true")
	}
	if p.Cursor != "" {
		q.Del("at")
		q.Del("asof")
	}
	return q
}

// Query runs one page of the query and verifies the checkpoint it answers
// for. With p.At.Complete (a query by subject or by signer alone), it also
// checks that the page holds every entry the index lists after the cursor,
// up to the page's limit, and that a next cursor is given while more
// remain.
func (c *Client) Query(ctx context.Context, p *QueryParams) (*api.QueryResponse, *translog.Checkpoint, error) {
	var qr api.QueryResponse
	if err := c.getJSON(ctx, "/api/v1/query", p.values(), &qr); err != nil {
		return nil, nil, err
	}
	cp, err := c.verifyAnswer(ctx, qr.Checkpoint)
	if err != nil {
		return nil, nil, err
	}
	if p.At.Complete {
		kind, key := "subject", p.Subject
		if p.Subject == "" {
			kind, key = "signer", p.Signer
		}
		if err := checkProof(cp, kind, key, qr.Complete); err != nil {
			return nil, nil, err
		}
		if err := checkPage(&qr, p, qr.Complete); err != nil {
			return nil, nil, err
		}
	}
	return &qr, cp, nil
}

// Attestation is an attestation proven in the log, with its statement's
// signatures checked unless the statement was erased.
type Attestation struct {
	Index         uint64
	Time          time.Time
	PredicateType string
	Subjects      []string
	Signers       []string
	// Statement is the statement JSON, and Predicate its predicate; nil
	// when erased.
	Statement json.RawMessage
	Predicate map[string]any
	Erased    bool
	// Verified: the statement has the digest the log holds and every
	// signature verifies with its signer's registered key; for a keyless
	// attestation, the bundle verifies against one of the client's
	// Sigstore trusted roots (Options.Sigstore).
	Verified bool
	// Keyless says the attestation came as a Sigstore bundle signed with a
	// short-lived certificate; Identities are the signers its certificate
	// names (read from the bundle, whose digest the log holds), and
	// Bundle the bundle. All three are absent once erased.
	Keyless    bool
	Identities []api.CertIdentity
	Bundle     []byte
}

// Attestation fetches the attestation at index, proves its entry included
// in cp, and checks its statement and signatures against the keys of its
// signers.
func (c *Client) Attestation(ctx context.Context, index uint64, cp *translog.Checkpoint, ids *IdentityCache) (*Attestation, error) {
	var aj api.Attestation
	if err := c.getJSON(ctx, "/api/v1/attestations/"+strconv.FormatUint(index, 10), nil, &aj); err != nil {
		return nil, err
	}
	le, err := c.EntryIn(ctx, index, cp)
	if err != nil {
		return nil, err
	}
	outer, err := record.ParseLeaf(le.Leaf)
	if err != nil {
		return nil, err
	}
	// An attestation imported with a package that moved here is checked
	// as one: its own signatures, and its proof in the source log.
	e := outer.Unwrap()
	if e.Attestation == nil {
		return nil, fmt.Errorf("entry %d is not an attestation", index)
	}
	out := &Attestation{Index: index, Time: e.Time, PredicateType: e.Attestation.PredicateType, Subjects: e.Attestation.Subjects,
		Signers: e.Attestation.Signers(), Erased: aj.Erased, Keyless: e.Attestation.Bundle != nil}
	if aj.Erased {
		return out, nil
	}
	if out.Keyless {
		return c.keyless(e, &aj, out)
	}
	// The signed bytes are the envelope's payload, exactly; the statement
	// shown beside it in the JSON answer may have been re-encoded on the
	// way (whitespace, key order), so it is never what is checked.
	payload, err := envelopePayload(aj.Envelope)
	if err != nil {
		return nil, fmt.Errorf("attestation %d: %w", index, err)
	}
	if err := e.AttachBody(payload); err != nil {
		return nil, fmt.Errorf("attestation %d: %w", index, err)
	}
	if err := outer.Verify(ids.Lookup(ctx)); err != nil {
		return nil, fmt.Errorf("attestation %d: %w", index, err)
	}
	out.Statement, out.Predicate, out.Verified = payload, e.Statement.Predicate(), true
	return out, nil
}

// keyless checks a keyless attestation's bundle against the log (its
// digest, signature and statement), reads its identity, and verifies it
// against the client's trusted roots, if any. A bundle that does not chain
// to any of them is not Verified; one that chains to one and fails another
// check is an error, as is anything that does not match the log.
func (c *Client) keyless(e *record.Entry, aj *api.Attestation, out *Attestation) (*Attestation, error) {
	checked, err := sigstore.CheckEntry(e, aj.Bundle, c.roots)
	var ce *sigstore.CheckError
	switch {
	case errors.As(err, &ce) && ce.Check == sigstore.CheckChain:
	case err != nil:
		return nil, fmt.Errorf("attestation %d: %w", out.Index, err)
	}
	out.Statement, out.Predicate, out.Bundle = e.Payload, e.Statement.Predicate(), aj.Bundle
	out.Identities = []api.CertIdentity{*checked.Identity}
	out.Verified = checked.Result != nil
	return out, nil
}

// envelopePayload returns the decoded payload of a DSSE envelope in JSON.
func envelopePayload(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return nil, errors.New("the registry's answer carries no envelope")
	}
	var env dsse.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("malformed envelope: %w", err)
	}
	p, err := env.DecodeB64Payload()
	if err != nil {
		return nil, errors.New("malformed envelope: the payload is not base64")
	}
	return p, nil
}

// IdentityCache fetches the public keys of registered identities, checking
// that each key hashes to its key ID.
type IdentityCache struct {
	c    *Client
	keys map[string]*keys.PublicKey
}

// NewIdentityCache returns an empty cache.
func (c *Client) NewIdentityCache() *IdentityCache {
	return &IdentityCache{c: c, keys: map[string]*keys.PublicKey{}}
}

// Lookup returns a record.KeyLookup backed by the registry.
func (ic *IdentityCache) Lookup(ctx context.Context) record.KeyLookup {
	return func(id string) (*keys.PublicKey, error) {
		if p, ok := ic.keys[id]; ok {
			return p, nil
		}
		ident, err := ic.c.Identity(ctx, id, At{})
		if IsCode(err, "unknown_identity") {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		p, err := keys.ParsePublicBase64(ident.PublicKey)
		if err != nil {
			return nil, err
		}
		if p.ID() != id {
			return nil, fmt.Errorf("the registry returned a key with ID %s for identity %s", p.ID(), id)
		}
		ic.keys[id] = p
		return p, nil
	}
}

// NewProfile makes the off-log profile of an identity: a fresh random salt,
// the profile's exact JSON, and the commitment the identity record carries.
func NewProfile(p api.Profile) (profile json.RawMessage, salt, commitment string, err error) {
	profile, err = json.Marshal(p)
	if err != nil {
		return nil, "", "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", "", err
	}
	return profile, base64.StdEncoding.EncodeToString(raw), record.Commitment(raw, profile), nil
}

// Admin sends an operator's signed request.
func (c *Client) Admin(ctx context.Context, req *api.AdminRequest, signers ...*keys.PrivateKey) (*api.EraseResponse, error) {
	if req.Time == "" {
		req.Time = time.Now().UTC().Format(time.RFC3339)
	}
	if req.Nonce == "" {
		n := make([]byte, 16)
		if _, err := rand.Read(n); err != nil {
			return nil, err
		}
		req.Nonce = base64.RawURLEncoding.EncodeToString(n)
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	env, err := record.Sign(api.AdminPayloadType, payload, signers...)
	if err != nil {
		return nil, err
	}
	body, err := postBody(env)
	if err != nil {
		return nil, err
	}
	b, _, err := c.do(ctx, http.MethodPost, "/api/v1/admin", nil, body, "application/json")
	if err != nil {
		return nil, err
	}
	var out api.EraseResponse
	return &out, json.Unmarshal(b, &out)
}
