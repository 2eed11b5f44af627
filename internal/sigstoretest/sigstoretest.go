// Package sigstoretest makes Sigstore bundles in tests, with no network:
// a virtual Fulcio, Rekor and timestamp authority built from sigstore-go's
// own test infrastructure (pkg/testing/ca). It writes the trusted_root.json
// of that virtual instance, and bundles of every version (0.1, 0.2, 0.3,
// and the .sigstore.json shape) and PEP 740 attestations, of both content
// kinds, signed with certificates for email or CI identities.
package sigstoretest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/pki"
	"github.com/sigstore/rekor/pkg/types"
	"github.com/sigstore/rekor/pkg/types/hashedrekord"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// Fulcio extension OIDs (see github.com/sigstore/fulcio docs/oid-info.md).
var (
	oidIssuerV2         = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	oidRunnerEnv        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 11}
	oidSourceRepoURI    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 12}
	oidSourceRepoDigest = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 13}
	oidSourceRepoRef    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 14}
	oidBuildConfigURI   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 18}
)

// GitHubIssuer is GitHub Actions' OIDC issuer.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// Identity is whom a certificate is issued to.
type Identity struct {
	Issuer string
	// Subject is an email address, or a URI (a CI workflow).
	Subject string
	// For CI identities: the source repository's URI, ref and commit.
	Repository, Ref, Commit string
}

// Email is a person's identity at an OIDC provider.
func Email(issuer, email string) Identity { return Identity{Issuer: issuer, Subject: email} }

// GitHubWorkflow is a GitHub Actions workflow's identity, as Fulcio issues
// it: the workflow file at a ref of a repository.
func GitHubWorkflow(repo, workflow, ref string) Identity {
	u := "https://github.com/" + repo
	return Identity{Issuer: GitHubIssuer, Subject: u + "/" + workflow + "@" + ref, Repository: u, Ref: ref,
		Commit: strings.Repeat("ab", 20)}
}

// CA is a virtual Sigstore instance: a Fulcio certificate authority of its
// own (to issue certificates with any identity and extensions), and the
// Rekor log and timestamp authority of a sigstore-go VirtualSigstore.
type CA struct {
	t     testing.TB
	VS    *ca.VirtualSigstore
	root  *x509.Certificate
	inter *x509.Certificate
	key   *ecdsa.PrivateKey
	logID string
}

// New makes a virtual Sigstore instance.
func New(t testing.TB) *CA {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	inter, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	logID, err := vs.RekorLogID()
	if err != nil {
		t.Fatal(err)
	}
	return &CA{t: t, VS: vs, root: rootCert, inter: inter, key: interKey, logID: logID}
}

// RootOptions shape a trusted root.
type RootOptions struct {
	// NoLogs leaves the transparency log out (a root that relies on
	// timestamp authorities, as GitHub's does for private repositories).
	NoLogs bool
}

// TrustedRoot returns the instance's trusted_root.json.
func (c *CA) TrustedRoot(o RootOptions) []byte {
	c.t.Helper()
	fulcio := &root.FulcioCertificateAuthority{Root: c.root, Intermediates: []*x509.Certificate{c.inter},
		ValidityPeriodStart: time.Now().Add(-5 * time.Hour), ValidityPeriodEnd: time.Now().Add(5 * time.Hour), URI: "https://fulcio.virtual.test"}
	logs := map[string]*root.TransparencyLog{}
	if !o.NoLogs {
		for id, l := range c.VS.RekorLogs() {
			cp := *l
			// The log's ID is the raw SHA-256 of its key in a trusted
			// root; VirtualSigstore keeps it hex-encoded.
			cp.ID, _ = hex.DecodeString(id)
			logs[id] = &cp
		}
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{fulcio}, nil, c.VS.TimestampingAuthorities(), logs)
	if err != nil {
		c.t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// Cert issues a leaf certificate for id, valid for ten minutes from
// notBefore, with a fresh P-256 key.
func (c *CA) Cert(id Identity, notBefore time.Time) (*x509.Certificate, *ecdsa.PrivateKey) {
	c.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		c.t.Fatal(err)
	}
	utf8 := func(s string) []byte {
		b, _ := asn1.MarshalWithParams(s, "utf8")
		return b
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(10 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV2, Value: utf8(id.Issuer)},
		},
	}
	if u, err := url.Parse(id.Subject); err == nil && u.Scheme != "" && !strings.Contains(id.Subject, "@") || strings.HasPrefix(id.Subject, "https://") {
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{id.Subject}
	}
	for _, e := range []struct {
		oid asn1.ObjectIdentifier
		v   string
	}{{oidSourceRepoURI, id.Repository}, {oidSourceRepoRef, id.Ref}, {oidSourceRepoDigest, id.Commit}, {oidBuildConfigURI, id.Subject}, {oidRunnerEnv, "github-hosted"}} {
		if id.Repository != "" && e.v != "" {
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: e.oid, Value: utf8(e.v)})
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.inter, &key.PublicKey, c.key)
	if err != nil {
		c.t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		c.t.Fatal(err)
	}
	return cert, key
}

// Options shape one signing.
type Options struct {
	// Version is the bundle version: "0.1", "0.2", "0.3" (the default:
	// the .sigstore.json shape cosign and gh write), or "0.3-legacy" (the
	// version 0.3 media type in its older spelling).
	Version string
	// Signed is when the log and the timestamp authority saw the
	// signature (default: now); the certificate is valid from a minute
	// before now for ten minutes.
	Signed time.Time
	// NoTimestamp leaves out the RFC 3161 timestamp; NoLog the
	// transparency log entry.
	NoTimestamp, NoLog bool
}

func (o *Options) defaults() {
	if o.Version == "" {
		o.Version = "0.3"
	}
	if o.Signed.IsZero() {
		o.Signed = time.Now()
	}
}

// DSSE signs an in-toto statement as a DSSE envelope in a bundle.
func (c *CA) DSSE(id Identity, statement []byte, o Options) []byte {
	c.t.Helper()
	o.defaults()
	cert, key := c.Cert(id, time.Now().Add(-time.Minute))
	sv, err := signature.LoadECDSASignerVerifier(key, crypto.SHA256)
	if err != nil {
		c.t.Fatal(err)
	}
	es, err := dsse.NewEnvelopeSigner(&sigdsse.SignerAdapter{SignatureSigner: sv, Pub: &key.PublicKey})
	if err != nil {
		c.t.Fatal(err)
	}
	env, err := es.SignPayload(context.Background(), "application/vnd.in-toto+json", statement)
	if err != nil {
		c.t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	pb := c.bundle(cert, sig, o, func(proof bool) *protorekor.TransparencyLogEntry {
		e, err := c.VS.GenerateTlogEntry(cert, env, sig, o.Signed.Unix(), proof)
		if err != nil {
			c.t.Fatal(err)
		}
		return c.withPromise(e.TransparencyLogEntry(), "dsse", o.Signed)
	})
	pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{Payload: statement, PayloadType: env.PayloadType,
		Signatures: []*protodsse.Signature{{Sig: sig}}}}
	return c.encode(pb)
}

// MessageSignature signs an artifact's SHA-256 digest (cosign sign-blob
// --bundle).
func (c *CA) MessageSignature(id Identity, artifact []byte, o Options) []byte {
	c.t.Helper()
	o.defaults()
	cert, key := c.Cert(id, time.Now().Add(-time.Minute))
	digest := sha256.Sum256(artifact)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		c.t.Fatal(err)
	}
	pb := c.bundle(cert, sig, o, func(proof bool) *protorekor.TransparencyLogEntry {
		return c.hashedRekord(cert, digest[:], sig, o.Signed, proof)
	})
	pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
		MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest[:]}, Signature: sig}}
	return c.encode(pb)
}

// bundle assembles a bundle's verification material for a version.
func (c *CA) bundle(cert *x509.Certificate, sig []byte, o Options, tlogEntry func(proof bool) *protorekor.TransparencyLogEntry) *protobundle.Bundle {
	vm := &protobundle.VerificationMaterial{}
	pb := &protobundle.Bundle{VerificationMaterial: vm}
	switch o.Version {
	case "0.1", "0.2":
		pb.MediaType = "application/vnd.dev.sigstore.bundle+json;version=" + o.Version
		vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{
			Certificates: []*protocommon.X509Certificate{{RawBytes: cert.Raw}}}}
	case "0.3", "0.3-legacy":
		pb.MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
		if o.Version == "0.3-legacy" {
			pb.MediaType = "application/vnd.dev.sigstore.bundle+json;version=0.3"
		}
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}}
	default:
		c.t.Fatalf("unknown bundle version %q", o.Version)
	}
	if !o.NoLog {
		// Version 0.1 carries the log's promise (signed entry
		// timestamp) only; later versions an inclusion proof too.
		e := tlogEntry(o.Version != "0.1")
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{e}
	}
	if !o.NoTimestamp {
		ts, err := c.VS.TimestampResponse(sig)
		if err != nil {
			c.t.Fatal(err)
		}
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts}}}
	}
	return pb
}

// withPromise adds the log's signed entry timestamp and the entry's kind
// to a log entry.
func (c *CA) withPromise(tle *protorekor.TransparencyLogEntry, kind string, signed time.Time) *protorekor.TransparencyLogEntry {
	set, err := c.VS.RekorSignPayload(tlog.RekorPayload{LogID: c.logID, IntegratedTime: signed.Unix(), LogIndex: tle.LogIndex,
		Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody)})
	if err != nil {
		c.t.Fatal(err)
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	tle.KindVersion = &protorekor.KindVersion{Kind: kind, Version: "0.0.1"}
	return tle
}

// hashedRekord makes the log entry of a message signature.
func (c *CA) hashedRekord(cert *x509.Certificate, digest, sig []byte, signed time.Time, proof bool) *protorekor.TransparencyLogEntry {
	certPEM, err := cryptoutils.MarshalCertificateToPEM(cert)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx := context.Background()
	pe, err := types.NewProposedEntry(ctx, hashedrekord.KIND, hashedrekord.New().DefaultVersion(), types.ArtifactProperties{
		ArtifactHash: hex.EncodeToString(digest), SignatureBytes: sig, PublicKeyBytes: [][]byte{certPEM}, PKIFormat: string(pki.X509)})
	if err != nil {
		c.t.Fatal(err)
	}
	ei, err := types.CreateVersionedEntry(pe)
	if err != nil {
		c.t.Fatal(err)
	}
	can, err := types.CanonicalizeEntry(ctx, ei)
	if err != nil {
		c.t.Fatal(err)
	}
	pe2, err := models.UnmarshalProposedEntry(bytes.NewReader(can), runtime.JSONConsumer())
	if err != nil {
		c.t.Fatal(err)
	}
	ei2, err := types.UnmarshalEntry(pe2)
	if err != nil {
		c.t.Fatal(err)
	}
	body, err := ei2.Canonicalize(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	var ip *models.InclusionProof
	if proof {
		if ip, err = c.VS.GetInclusionProof(body); err != nil {
			c.t.Fatal(err)
		}
	}
	logIDRaw, _ := hex.DecodeString(c.logID)
	//lint:ignore SA1019 this is a Rekor v1 entry, which is what NewEntry builds; NewTlogEntry parses one already built
	e, err := tlog.NewEntry(body, signed.Unix(), 0, logIDRaw, nil, ip)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.withPromise(e.TransparencyLogEntry(), hashedrekord.KIND, signed)
}

func (c *CA) encode(pb *protobundle.Bundle) []byte {
	b, err := protojson.Marshal(pb)
	if err != nil {
		c.t.Fatal(err)
	}
	// protojson's output is deliberately unstable; tools write indented
	// JSON with stable spacing.
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		c.t.Fatal(err)
	}
	return out.Bytes()
}

// PEP740 rewrites a version 0.3 DSSE bundle as the PEP 740 attestation
// object PyPI serves.
func PEP740(t testing.TB, bundle []byte) []byte {
	t.Helper()
	var b struct {
		VerificationMaterial struct {
			Certificate struct {
				RawBytes string `json:"rawBytes"`
			} `json:"certificate"`
			TlogEntries []json.RawMessage `json:"tlogEntries"`
		} `json:"verificationMaterial"`
		DsseEnvelope struct {
			Payload    string `json:"payload"`
			Signatures []struct {
				Sig string `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(map[string]any{
		"version": 1,
		"verification_material": map[string]any{"certificate": b.VerificationMaterial.Certificate.RawBytes,
			"transparency_entries": b.VerificationMaterial.TlogEntries},
		"envelope": map[string]any{"statement": b.DsseEnvelope.Payload, "signature": b.DsseEnvelope.Signatures[0].Sig},
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Statement makes an in-toto statement about digests ("sha256:<hex>",
// "sha512:<hex>"...).
func Statement(predicateType string, predicate any, digests ...string) []byte {
	var subj []any
	for i, d := range digests {
		alg, h, _ := strings.Cut(d, ":")
		subj = append(subj, map[string]any{"name": "artifact-" + string(rune('a'+i)), "digest": map[string]string{alg: h}})
	}
	b, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": subj, "predicateType": predicateType, "predicate": predicate})
	return b
}

// KeyDSSE signs a statement with a key (no certificate, no log entry), in a
// version 0.3 bundle whose key hint is the base64 SHA-256 of the key's DER
// encoding, as cosign and sigstore-go write it. With messageSignature, it
// signs the statement's bytes as an artifact instead.
func KeyDSSE(t testing.TB, key crypto.Signer, statement []byte, messageSignature bool) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	hint := sha256.Sum256(der)
	pb := &protobundle.Bundle{MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{Content: &protobundle.VerificationMaterial_PublicKey{
			PublicKey: &protocommon.PublicKeyIdentifier{Hint: base64.StdEncoding.EncodeToString(hint[:])}}}}
	if messageSignature {
		d := sha256.Sum256(statement)
		sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: d[:]}, Signature: sig}}
	} else {
		sv, err := signature.LoadSigner(key, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		es, err := dsse.NewEnvelopeSigner(&sigdsse.SignerAdapter{SignatureSigner: sv, Pub: key.Public()})
		if err != nil {
			t.Fatal(err)
		}
		env, err := es.SignPayload(context.Background(), "application/vnd.in-toto+json", statement)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{Payload: statement, PayloadType: env.PayloadType,
			Signatures: []*protodsse.Signature{{Sig: sig}}}}
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
