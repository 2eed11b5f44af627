package sigstore

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/record"
)

// The checks a keyless bundle passes, named in refusals.
const (
	// CheckChain: the certificate chains to a Fulcio certificate authority
	// of a trusted root (and carries the certificate transparency
	// timestamps the root's CT logs call for).
	CheckChain = "chain"
	// CheckExpired: the certificate was valid when the transparency log or
	// the timestamp authority saw the signature.
	CheckExpired = "expired"
	// CheckLogProof: the transparency log entry's inclusion proof or signed
	// entry timestamp verifies with a log of the trusted root, and the
	// entry is of this signature.
	CheckLogProof = "log_proof"
	// CheckTimestamp: the signed timestamps (RFC 3161) the root calls for
	// verify.
	CheckTimestamp = "timestamp"
	// CheckSignature: the signature over the content verifies with the
	// certificate's key.
	CheckSignature = "signature"
	// CheckFormat: the bundle is not one sigstore-go can verify.
	CheckFormat = "format"
)

// CheckError is a bundle that failed a check.
type CheckError struct {
	Check string
	Err   error
}

func (e *CheckError) Error() string {
	what := map[string]string{
		CheckChain:     "certificate chain",
		CheckExpired:   "certificate expired at signing time",
		CheckLogProof:  "transparency log proof",
		CheckTimestamp: "signed timestamp",
		CheckSignature: "signature",
		CheckFormat:    "bundle format",
	}[e.Check]
	return fmt.Sprintf("bundle check failed: %s: %v", what, e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// Root is one trusted root: a trusted_root.json document.
type Root struct {
	// Name says where it came from (a file name).
	Name string
	// Digest is "sha256:<hex>" of the document's bytes; the log names the
	// root a bundle was verified against by it.
	Digest string
	// Trusted is the parsed root.
	Trusted *root.TrustedRoot

	verifier *verify.Verifier
}

// NewRoot parses a trusted_root.json document. The verifier it makes
// requires what the root can vouch for: a transparency log entry when the
// root lists transparency logs, certificate transparency timestamps when it
// lists CT logs, and always at least one observer timestamp (the log's, or
// a timestamp authority's) at which the certificate was valid.
func NewRoot(name string, doc []byte) (*Root, error) {
	tr, err := root.NewTrustedRootFromJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: not a Sigstore trusted root: %w", name, err)
	}
	var opts []verify.VerifierOption
	if len(tr.RekorLogs()) > 0 {
		opts = append(opts, verify.WithTransparencyLog(1))
	}
	if len(tr.CTLogs()) > 0 {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	opts = append(opts, verify.WithObserverTimestamps(1), verify.WithoutStatementPredicate())
	v, err := verify.NewVerifier(tr, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, fmt.Errorf("%s: the trusted root lists no certificate authority", name)
	}
	return &Root{Name: name, Digest: record.Digest(doc), Trusted: tr, verifier: v}, nil
}

// Roots are the trusted roots a verifier accepts bundles from. The zero
// value (or nil) trusts none.
type Roots struct{ list []*Root }

// NewRoots returns a set of roots.
func NewRoots(rs ...*Root) *Roots { return &Roots{list: rs} }

// LoadRoots reads trusted_root.json files. A file may hold several roots,
// one JSON document per line (as "gh attestation trusted-root" writes).
func LoadRoots(paths ...string) (*Roots, error) {
	rs := &Roots{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		docs := [][]byte{bytes.TrimSpace(b)}
		if lines := bytes.Split(docs[0], []byte("\n")); len(lines) > 1 && bytes.HasPrefix(bytes.TrimSpace(lines[1]), []byte("{")) && bytes.HasSuffix(bytes.TrimSpace(lines[0]), []byte("}")) {
			docs = nil
			for _, l := range lines {
				if l = bytes.TrimSpace(l); len(l) > 0 {
					docs = append(docs, l)
				}
			}
		}
		for i, d := range docs {
			name := p
			if len(docs) > 1 {
				name = fmt.Sprintf("%s:%d", p, i+1)
			}
			if IsBundle(d) {
				return nil, fmt.Errorf("%s is a Sigstore bundle, not a trusted root: submit it with vouch attest --bundle", name)
			}
			r, err := NewRoot(name, d)
			if err != nil {
				return nil, err
			}
			rs.list = append(rs.list, r)
		}
	}
	return rs, nil
}

// List returns the roots.
func (rs *Roots) List() []*Root {
	if rs == nil {
		return nil
	}
	return rs.list
}

// Find returns the root with a digest, or nil.
func (rs *Roots) Find(digest string) *Root {
	for _, r := range rs.List() {
		if r.Digest == digest {
			return r
		}
	}
	return nil
}

// Result is a verified keyless bundle.
type Result struct {
	// Root is the trusted root it verified against.
	Root *Root
	// Identity is the signer its certificate names.
	Identity *api.CertIdentity
	// Times are the verified times at which the signature was observed
	// (the transparency log's, the timestamp authorities').
	Times []time.Time
}

// Verify checks a keyless bundle against the roots, with sigstore-go:
// which root's certificate authority issued its certificate, then its
// signature, then everything together (transparency log, timestamps, the
// certificate's validity at the observed times). A failure is a
// *CheckError naming the check.
func (rs *Roots) Verify(d *Document) (*Result, error) {
	if d.Certificate == nil {
		return nil, &CheckError{CheckChain, errors.New("the bundle is signed with a key, not a certificate")}
	}
	if len(rs.List()) == 0 {
		return nil, &CheckError{CheckChain, errors.New("no Sigstore trusted root is configured (vouch serve --sigstore-trusted-root FILE)")}
	}
	// Which roots issued the certificate: path validation at a time the
	// certificate claims to be valid; its validity at the signing time is
	// checked below, with the verified timestamps.
	leaf := withoutOtherNameSAN(d.Certificate)
	var candidates []*Root
	for _, r := range rs.list {
		if _, err := verify.VerifyLeafCertificate(leaf.NotBefore, leaf, r.Trusted); err == nil {
			candidates = append(candidates, r)
		}
	}
	if len(candidates) == 0 {
		return nil, &CheckError{CheckChain, fmt.Errorf("the certificate (issued by %q) does not chain to a certificate authority of a trusted root", d.Certificate.Issuer.String())}
	}
	id, err := d.Identity()
	if err != nil {
		return nil, &CheckError{CheckFormat, err}
	}
	var first error
	for _, r := range candidates {
		res, err := r.verify(d)
		if err == nil {
			res.Identity = id
			return res, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

func (r *Root) verify(d *Document) (*Result, error) {
	sc, err := d.Bundle.SignatureContent()
	if err != nil {
		return nil, &CheckError{CheckFormat, err}
	}
	vc, err := d.Bundle.VerificationContent()
	if err != nil {
		return nil, &CheckError{CheckFormat, err}
	}
	var policy verify.PolicyBuilder
	if d.Content == record.BundleDSSE {
		if err := verify.VerifySignature(sc, vc, r.Trusted); err != nil {
			return nil, &CheckError{CheckSignature, err}
		}
		policy = verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithoutIdentitiesUnsafe())
	} else {
		ad := []verify.ArtifactDigest{{Algorithm: d.DigestAlg, Digest: d.Digest}}
		if err := verify.VerifySignatureWithArtifactDigests(sc, vc, r.Trusted, ad); err != nil {
			return nil, &CheckError{CheckSignature, err}
		}
		policy = verify.NewPolicy(verify.WithArtifactDigest(d.DigestAlg, d.Digest), verify.WithoutIdentitiesUnsafe())
	}
	res, err := r.verifier.Verify(d.Bundle, policy)
	if err != nil {
		return nil, classify(err)
	}
	out := &Result{Root: r}
	for _, t := range res.VerifiedTimestamps {
		out.Times = append(out.Times, t.Timestamp)
	}
	return out, nil
}

// classify names the check a sigstore-go verification error comes from,
// by the step of verify.Verifier.Verify that failed.
func classify(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "outside certificate validity") {
		// The transparency log saw the signature when the certificate
		// was not valid.
		return &CheckError{CheckExpired, err}
	}
	for _, c := range []struct{ prefix, check string }{
		{"failed to verify log inclusion", CheckLogProof},
		{"failed to verify timestamps", CheckTimestamp},
		{"failed to verify leaf certificate", CheckExpired},
		{"failed to verify signed certificate timestamp", CheckChain},
		{"SCTs required", CheckChain},
		{"failed to verify signature", CheckSignature},
	} {
		if strings.HasPrefix(msg, c.prefix) {
			if c.check == CheckExpired {
				err = fmt.Errorf("the certificate was not valid at the time the transparency log or the timestamp authority observed the signature (%w)", err)
			}
			return &CheckError{c.check, err}
		}
	}
	return &CheckError{CheckFormat, err}
}

// withoutOtherNameSAN returns the certificate without the critical
// other-name SAN extension Fulcio may add, which Go's path validation does
// not know (sigstore-go's verifier does the same).
func withoutOtherNameSAN(c *x509.Certificate) *x509.Certificate {
	if len(c.UnhandledCriticalExtensions) == 0 {
		return c
	}
	cc := *c
	cc.UnhandledCriticalExtensions = nil
	for _, oid := range c.UnhandledCriticalExtensions {
		if !oid.Equal(cryptoutils.SANOID) {
			cc.UnhandledCriticalExtensions = append(cc.UnhandledCriticalExtensions, oid)
		}
	}
	return &cc
}

// Checked is a keyless attestation read back from a registry: its bundle
// matches the log, its statement is the bundle's, and its identity is the
// certificate's.
type Checked struct {
	Document *Document
	Identity *api.CertIdentity
	// Result is set when the bundle verified against one of the roots
	// given to CheckEntry.
	Result *Result
}

// MismatchError is a bundle served for an entry that does not say what the
// log says: the registry (or something between) is lying.
type MismatchError struct{ Msg string }

func (e *MismatchError) Error() string { return e.Msg }

// CheckEntry checks a keyless attestation entry read from the log against
// its bundle (kept off the log): the bundle has the digest the log holds,
// the media type, content kind and signature the log names, and its
// statement is the entry's. It attaches the bundle and the statement to e.
// With roots, it then verifies the bundle (Roots.Verify); an error from
// that is a *CheckError, and the entry is still attached.
func CheckEntry(e *record.Entry, doc []byte, roots *Roots) (*Checked, error) {
	a := e.Attestation
	if a == nil || a.Bundle == nil {
		return nil, &MismatchError{"not a keyless attestation"}
	}
	if err := e.AttachBundle(doc); err != nil {
		return nil, &MismatchError{err.Error()}
	}
	d, err := Parse(doc)
	if err != nil {
		return nil, &MismatchError{"the bundle the log names is not readable: " + err.Error()}
	}
	ref := a.Bundle
	if d.MediaType != ref.MediaType || d.Content != ref.Content || base64.StdEncoding.EncodeToString(d.Sig) != ref.Sig || d.Certificate == nil {
		return nil, &MismatchError{"the bundle does not have the media type, content or signature the log holds"}
	}
	if err := e.AttachBody(d.Statement()); err != nil {
		return nil, &MismatchError{"the bundle's statement is not the one the log holds: " + err.Error()}
	}
	id, err := d.Identity()
	if err != nil {
		return nil, &MismatchError{err.Error()}
	}
	out := &Checked{Document: d, Identity: id}
	if roots == nil {
		return out, nil
	}
	res, err := roots.Verify(d)
	if err != nil {
		return out, err
	}
	out.Result = res
	return out, nil
}
