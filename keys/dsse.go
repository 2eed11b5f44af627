package keys

import (
	"context"
	"crypto"
	"errors"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// ErrBadSignature is returned by DSSE verifiers when a signature does not verify.
var ErrBadSignature = errors.New("signature does not verify")

// DSSESigner returns a dsse.Signer that signs with k and labels its
// signatures with k's key ID.
func (k *PrivateKey) DSSESigner() dsse.Signer { return dsseSigner{k} }

type dsseSigner struct{ k *PrivateKey }

func (s dsseSigner) Sign(_ context.Context, data []byte) ([]byte, error) { return s.k.Sign(data) }
func (s dsseSigner) KeyID() (string, error)                              { return s.k.ID(), nil }

// DSSEVerifier returns a dsse.Verifier for p that answers to the key ID
// keyid, which may differ from p.ID() when an envelope made by another tool
// labels its signature in its own way.
func (p *PublicKey) DSSEVerifier(keyid string) dsse.Verifier { return dsseVerifier{p, keyid} }

type dsseVerifier struct {
	p     *PublicKey
	keyid string
}

func (v dsseVerifier) Verify(_ context.Context, data, sig []byte) error {
	if !v.p.Verify(data, sig) {
		return ErrBadSignature
	}
	return nil
}
func (v dsseVerifier) KeyID() (string, error)   { return v.keyid, nil }
func (v dsseVerifier) Public() crypto.PublicKey { return v.p.key }
