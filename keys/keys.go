// Package keys handles the public-key identities Vouch works with: Ed25519 and
// ECDSA P-256 keys, their PEM encodings, their key IDs, and the DSSE signer and
// verifier adapters used to sign and check envelopes.
//
// A key ID is "sha256:" followed by the lowercase hex SHA-256 of the key's PKIX
// (SubjectPublicKeyInfo) DER encoding.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Type names a supported key algorithm.
type Type string

// The supported key types.
const (
	Ed25519   Type = "ed25519"
	ECDSAP256 Type = "ecdsa-p256"
)

// ParseType parses a key type name as given on the command line.
func ParseType(s string) (Type, error) {
	switch Type(strings.ToLower(s)) {
	case Ed25519, "":
		return Ed25519, nil
	case ECDSAP256, "ecdsa", "p256", "p-256":
		return ECDSAP256, nil
	}
	return "", fmt.Errorf("unknown key type %q (want %q or %q)", s, Ed25519, ECDSAP256)
}

// PublicKey is a parsed public key with its PKIX DER encoding and key ID.
type PublicKey struct {
	key crypto.PublicKey
	der []byte
	id  string
	typ Type
}

// PrivateKey is a signing key together with its public half.
type PrivateKey struct {
	signer crypto.Signer
	pub    *PublicKey
}

// IDPrefix is the prefix of every key ID.
const IDPrefix = "sha256:"

// ID returns the key ID of a PKIX DER encoded public key.
func ID(der []byte) string {
	sum := sha256.Sum256(der)
	return IDPrefix + hex.EncodeToString(sum[:])
}

// ValidID reports whether s is syntactically a key ID.
func ValidID(s string) bool {
	if len(s) != len(IDPrefix)+64 || !strings.HasPrefix(s, IDPrefix) {
		return false
	}
	for _, c := range s[len(IDPrefix):] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Generate creates a new private key of the given type.
func Generate(t Type) (*PrivateKey, error) {
	var s crypto.Signer
	switch t {
	case Ed25519, "":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		s = k
	case ECDSAP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		s = k
	default:
		return nil, fmt.Errorf("unknown key type %q", t)
	}
	return newPrivate(s)
}

func newPrivate(s crypto.Signer) (*PrivateKey, error) {
	der, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	pub, err := ParsePublicDER(der)
	if err != nil {
		return nil, err
	}
	return &PrivateKey{signer: s, pub: pub}, nil
}

// ParsePublicDER parses a PKIX DER public key. Only Ed25519 and ECDSA P-256
// keys are accepted.
func ParsePublicDER(der []byte) (*PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a PKIX public key: %v", err)
	}
	p := &PublicKey{key: k, der: append([]byte(nil), der...), id: ID(der)}
	switch k := k.(type) {
	case ed25519.PublicKey:
		p.typ = Ed25519
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("unsupported ECDSA curve (only P-256 is accepted)")
		}
		p.typ = ECDSAP256
	default:
		return nil, fmt.Errorf("unsupported public key type %T (want Ed25519 or ECDSA P-256)", k)
	}
	return p, nil
}

// ParsePublicBase64 parses a standard-base64 PKIX DER public key, the form
// used inside records.
func ParsePublicBase64(s string) (*PublicKey, error) {
	der, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("public key is not valid base64: %v", err)
	}
	return ParsePublicDER(der)
}

// ParsePublicPEM parses a PEM "PUBLIC KEY" block.
func ParsePublicPEM(b []byte) (*PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block found")
	}
	if blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\"", blk.Type)
	}
	return ParsePublicDER(blk.Bytes)
}

// ParsePrivatePEM parses a PEM "PRIVATE KEY" (PKCS#8) block.
func ParsePrivatePEM(b []byte) (*PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block found")
	}
	if blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("PEM block is %q, want \"PRIVATE KEY\" (PKCS#8)", blk.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS#8 private key: %v", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return newPrivate(s)
}

// ID returns the key ID.
func (p *PublicKey) ID() string { return p.id }

// Type returns the key's algorithm.
func (p *PublicKey) Type() Type { return p.typ }

// DER returns the PKIX DER encoding.
func (p *PublicKey) DER() []byte { return p.der }

// Base64 returns the standard-base64 PKIX DER encoding, as used in records.
func (p *PublicKey) Base64() string { return base64.StdEncoding.EncodeToString(p.der) }

// Crypto returns the underlying crypto.PublicKey.
func (p *PublicKey) Crypto() crypto.PublicKey { return p.key }

// PEM returns the PEM "PUBLIC KEY" encoding.
func (p *PublicKey) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p.der})
}

// Verify reports whether sig is a valid signature of msg. Ed25519 signs msg
// directly; ECDSA P-256 signs SHA-256(msg) with an ASN.1 DER signature, as DSSE
// tools (go-securesystemslib, cosign) do.
func (p *PublicKey) Verify(msg, sig []byte) bool {
	switch k := p.key.(type) {
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k, msg, sig)
	case *ecdsa.PublicKey:
		h := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(k, h[:], sig)
	}
	return false
}

// Public returns the public half.
func (k *PrivateKey) Public() *PublicKey { return k.pub }

// ID returns the key ID of the public half.
func (k *PrivateKey) ID() string { return k.pub.id }

// Sign signs msg (see PublicKey.Verify for the scheme).
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) {
	switch s := k.signer.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(s, msg), nil
	case *ecdsa.PrivateKey:
		h := sha256.Sum256(msg)
		return ecdsa.SignASN1(rand.Reader, s, h[:])
	}
	return nil, fmt.Errorf("unsupported private key type %T", k.signer)
}

// PEM returns the PEM "PRIVATE KEY" (PKCS#8) encoding.
func (k *PrivateKey) PEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Ed25519 returns the Ed25519 private key, or nil for other key types.
func (k *PrivateKey) Ed25519() ed25519.PrivateKey {
	s, _ := k.signer.(ed25519.PrivateKey)
	return s
}
