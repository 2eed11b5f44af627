// Package sigstore reads and verifies the attestations the world makes with
// Sigstore: bundles (application/vnd.dev.sigstore.bundle+json, versions 0.1
// to 0.3, and the .sigstore.json files the tools write) and PEP 740
// attestation objects (PyPI), with either content kind: a DSSE envelope
// holding an in-toto statement, or a message signature over an artifact's
// digest.
//
// Every check is sigstore-go's (github.com/sigstore/sigstore-go): the
// certificate chain against a trusted root (the trusted_root.json format),
// the transparency log's inclusion proof or signed entry timestamp, the
// signed timestamps, and the signature over the content. Verification
// never touches the network: the trusted roots are files the operator (or
// the auditor, or the client) names.
//
// The registry verifies a keyless bundle before it is sequenced (the pure
// state machine checks only replays and subjects); auditors and clients
// that hold a trusted root verify it again from the bundle kept off the
// log (CheckEntry).
package sigstore

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/record"
)

// SignaturePredicateType is the predicate type of the statement Vouch
// records for a message signature: a bundle that signs an artifact's digest
// rather than a statement (cosign sign-blob --bundle). Its subject is the
// artifact's digest; its predicate the signature (see Document.Statement).
const SignaturePredicateType = "https://vouch.dev/attestations/signature/v1"

const bundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle"

// Document is a parsed Sigstore bundle or PEP 740 attestation.
type Document struct {
	// Raw is the document exactly as submitted; the log holds its digest.
	Raw []byte
	// MediaType is the bundle's media type, or record.PEP740MediaType.
	MediaType string
	// Bundle is the bundle (a PEP 740 attestation is converted to the
	// version 0.3 bundle it is equivalent to).
	Bundle *bundle.Bundle
	// Content is record.BundleDSSE or record.BundleMessageSignature.
	Content string
	// Certificate is the signing certificate, or nil when the bundle was
	// signed with a key (KeyHint then names it).
	Certificate *x509.Certificate
	KeyHint     string
	// Sig is the signature, and SigKeyID the keyid label of a DSSE
	// envelope's signature.
	Sig      []byte
	SigKeyID string
	// PayloadType and Payload are a DSSE envelope's; for a message
	// signature, Digest and DigestAlg ("sha256", "sha384" or "sha512")
	// name the signed artifact.
	PayloadType string
	Payload     []byte
	Digest      []byte
	DigestAlg   string
}

// FormatError is a document that is not a bundle Vouch can read; its
// message says what it is instead, when it can tell.
type FormatError struct{ Msg string }

func (e *FormatError) Error() string { return e.Msg }

func formatf(format string, args ...any) error {
	return &FormatError{Msg: fmt.Sprintf(format, args...)}
}

// pep740 is a PEP 740 attestation object.
type pep740 struct {
	Version              int `json:"version"`
	VerificationMaterial struct {
		Certificate         string            `json:"certificate"`
		TransparencyEntries []json.RawMessage `json:"transparency_entries"`
	} `json:"verification_material"`
	Envelope struct {
		Statement string `json:"statement"`
		Signature string `json:"signature"`
	} `json:"envelope"`
}

// IsBundle reports whether a JSON document looks like a Sigstore bundle
// (it has a bundle media type) or a PEP 740 attestation (it has
// verification_material and an envelope), without parsing it fully.
func IsBundle(doc []byte) bool {
	var probe struct {
		MediaType  string          `json:"mediaType"`
		MediaType2 string          `json:"media_type"`
		PEP        json.RawMessage `json:"verification_material"`
		Envelope   json.RawMessage `json:"envelope"`
	}
	if json.Unmarshal(doc, &probe) != nil {
		return false
	}
	return strings.HasPrefix(probe.MediaType+probe.MediaType2, bundleMediaTypePrefix) || probe.PEP != nil && probe.Envelope != nil
}

// Parse reads a Sigstore bundle (any supported version) or a PEP 740
// attestation object.
func Parse(doc []byte) (*Document, error) {
	var probe struct {
		MediaType  string          `json:"mediaType"`
		MediaType2 string          `json:"media_type"`
		PEP        json.RawMessage `json:"verification_material"`
	}
	if err := json.Unmarshal(doc, &probe); err != nil {
		return nil, formatf("not a Sigstore bundle: %v", err)
	}
	mt := probe.MediaType + probe.MediaType2
	var pb *protobundle.Bundle
	switch {
	case strings.HasPrefix(mt, bundleMediaTypePrefix):
		pb = &protobundle.Bundle{}
		if err := protojson.Unmarshal(doc, pb); err != nil {
			return nil, formatf("Sigstore bundle: %v", err)
		}
	case probe.PEP != nil:
		var err error
		if pb, err = fromPEP740(doc); err != nil {
			return nil, err
		}
		mt = record.PEP740MediaType
	case mt != "":
		return nil, formatf("media type %q is not a Sigstore bundle (%s+json;version=0.1 to 0.3, or %s.v0.3+json)", mt, bundleMediaTypePrefix, bundleMediaTypePrefix)
	default:
		return nil, formatf("not a Sigstore bundle: no mediaType")
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, formatf("Sigstore bundle: %v", err)
	}
	d := &Document{Raw: doc, MediaType: mt, Bundle: b}
	vc, err := b.VerificationContent()
	if err != nil {
		return nil, formatf("Sigstore bundle: %v", err)
	}
	if c := vc.Certificate(); c != nil {
		d.Certificate = c
	} else if pk := vc.PublicKey(); pk != nil {
		d.KeyHint = pk.Hint()
	}
	switch c := pb.GetContent().(type) {
	case *protobundle.Bundle_DsseEnvelope:
		env := c.DsseEnvelope
		if len(env.GetSignatures()) != 1 {
			return nil, formatf("Sigstore bundle: a bundle's DSSE envelope has exactly one signature, this one %d", len(env.GetSignatures()))
		}
		d.Content, d.PayloadType, d.Payload, d.Sig = record.BundleDSSE, env.GetPayloadType(), env.GetPayload(), env.GetSignatures()[0].GetSig()
		d.SigKeyID = env.GetSignatures()[0].GetKeyid()
		if d.PayloadType != record.InTotoPayloadType {
			return nil, formatf("Sigstore bundle: its DSSE payload type is %q, not an in-toto statement (%s)", d.PayloadType, record.InTotoPayloadType)
		}
	case *protobundle.Bundle_MessageSignature:
		ms := c.MessageSignature
		d.Content, d.Sig = record.BundleMessageSignature, ms.GetSignature()
		d.Digest = ms.GetMessageDigest().GetDigest()
		switch ms.GetMessageDigest().GetAlgorithm() {
		case protocommon.HashAlgorithm_SHA2_256:
			d.DigestAlg = "sha256"
		case protocommon.HashAlgorithm_SHA2_384:
			d.DigestAlg = "sha384"
		case protocommon.HashAlgorithm_SHA2_512:
			d.DigestAlg = "sha512"
		default:
			return nil, formatf("Sigstore bundle: message digest algorithm %s is not sha256, sha384 or sha512", ms.GetMessageDigest().GetAlgorithm())
		}
		if err := record.ValidateSubjectDigest(d.DigestAlg + ":" + hex.EncodeToString(d.Digest)); err != nil {
			return nil, formatf("Sigstore bundle: message digest: %v", err)
		}
	default:
		return nil, formatf("Sigstore bundle: no DSSE envelope or message signature")
	}
	if len(d.Sig) == 0 || len(d.Sig) > 1024 {
		return nil, formatf("Sigstore bundle: the signature is empty or too long")
	}
	return d, nil
}

// fromPEP740 converts a PEP 740 attestation object to the version 0.3
// bundle it is equivalent to (as PyPI's own tools do): the certificate and
// transparency log entries become the verification material, the statement
// and signature a DSSE envelope of an in-toto statement.
func fromPEP740(doc []byte) (*protobundle.Bundle, error) {
	var a pep740
	d := json.NewDecoder(bytes.NewReader(doc))
	d.DisallowUnknownFields()
	if err := d.Decode(&a); err != nil {
		return nil, formatf("PEP 740 attestation: %v", err)
	}
	if a.Version != 1 {
		return nil, formatf("PEP 740 attestation: version %d is not 1", a.Version)
	}
	cert, err1 := base64.StdEncoding.DecodeString(a.VerificationMaterial.Certificate)
	stmt, err2 := base64.StdEncoding.DecodeString(a.Envelope.Statement)
	sig, err3 := base64.StdEncoding.DecodeString(a.Envelope.Signature)
	if err := errors.Join(err1, err2, err3); err != nil || len(cert) == 0 || len(sig) == 0 {
		return nil, formatf("PEP 740 attestation: certificate, statement and signature must be base64")
	}
	vm := &protobundle.VerificationMaterial{Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cert}}}
	for i, raw := range a.VerificationMaterial.TransparencyEntries {
		var tle protorekor.TransparencyLogEntry
		if err := protojson.Unmarshal(raw, &tle); err != nil {
			return nil, formatf("PEP 740 attestation: transparency entry %d: %v", i+1, err)
		}
		vm.TlogEntries = append(vm.TlogEntries, &tle)
	}
	return &protobundle.Bundle{
		MediaType:            bundleMediaTypePrefix + ".v0.3+json",
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: stmt, PayloadType: record.InTotoPayloadType, Signatures: []*protodsse.Signature{{Sig: sig}}}},
	}, nil
}

// Statement returns the statement the document attests: a DSSE envelope's
// payload, exactly as signed, or for a message signature the statement
// Vouch derives from it (deterministic: anyone holding the bundle derives
// the same bytes):
//
//	{"_type":"https://in-toto.io/Statement/v1",
//	 "subject":[{"digest":{"<alg>":"<hex>"}}],
//	 "predicateType":"https://vouch.dev/attestations/signature/v1",
//	 "predicate":{"algorithm":"<alg>","digest":"<hex>","signature":"<base64>"}}
func (d *Document) Statement() []byte {
	if d.Content == record.BundleDSSE {
		return d.Payload
	}
	h := hex.EncodeToString(d.Digest)
	type subject struct {
		Digest map[string]string `json:"digest"`
	}
	type predicate struct {
		Algorithm string `json:"algorithm"`
		Digest    string `json:"digest"`
		Signature string `json:"signature"`
	}
	b, _ := json.Marshal(struct {
		Type          string    `json:"_type"`
		Subject       []subject `json:"subject"`
		PredicateType string    `json:"predicateType"`
		Predicate     predicate `json:"predicate"`
	}{"https://in-toto.io/Statement/v1", []subject{{map[string]string{d.DigestAlg: h}}}, SignaturePredicateType,
		predicate{d.DigestAlg, h, base64.StdEncoding.EncodeToString(d.Sig)}})
	return b
}

// Identity returns the signer identity the certificate names: the OIDC
// issuer, the subject (the certificate's first URI, email or other-name
// SAN), and the Fulcio extensions it carries (source repository, ref,
// commit, workflow...), under their Fulcio names. The certificate is not
// checked here (see Roots.Verify).
func (d *Document) Identity() (*api.CertIdentity, error) {
	if d.Certificate == nil {
		return nil, errors.New("the bundle is signed with a key, not a certificate")
	}
	s, err := certificate.SummarizeCertificate(d.Certificate)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	id := &api.CertIdentity{Issuer: s.Issuer, Subject: s.SubjectAlternativeName}
	b, err := json.Marshal(s.Extensions)
	if err != nil {
		return nil, err
	}
	var ext map[string]string
	if err := json.Unmarshal(b, &ext); err != nil {
		return nil, err
	}
	delete(ext, "issuer")
	if len(ext) > 0 {
		id.Extensions = ext
	}
	return id, nil
}

// Ref returns what the log says about a keyless document verified against
// the trusted root whose digest is root.
func (d *Document) Ref(root string) record.BundleRef {
	return record.BundleRef{Digest: record.Digest(d.Raw), MediaType: d.MediaType, Content: d.Content,
		Sig: base64.StdEncoding.EncodeToString(d.Sig), Signer: record.SignerKeyless, TrustedRoot: root}
}

// KeyID returns the Vouch key ID a key-signed bundle's hint names: a Vouch
// key ID itself, or the base64 SHA-256 of the key's DER encoding (the hint
// sigstore-go and cosign write), or "" if it names neither.
func (d *Document) KeyID() string {
	h := d.KeyHint
	if strings.HasPrefix(h, "sha256:") {
		return h
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(h); err == nil && len(b) == sha256.Size {
			return "sha256:" + hex.EncodeToString(b)
		}
	}
	if b, err := hex.DecodeString(h); err == nil && len(b) == sha256.Size {
		return "sha256:" + h
	}
	return ""
}
