package keys

import (
	"crypto/ed25519"

	"github.com/hdevalence/ed25519consensus"
)

// A Batch checks many Ed25519 signatures at once, at about half the cost
// of checking them one by one (ed25519consensus, which verifies by the
// ZIP 215 rules: for a signature made with the key's private half, the
// same answer as crypto/ed25519). It answers for the whole batch only: when
// Verify reports false, check the signatures one by one to find the bad
// ones. The zero value is an empty batch.
type Batch struct {
	bv ed25519consensus.BatchVerifier
	n  int
}

// Add adds a signature by p over msg to the batch, and reports whether it
// could: only Ed25519 signatures of the right length are batched; check
// the others with PublicKey.Verify.
func (b *Batch) Add(p *PublicKey, msg, sig []byte) bool {
	k, ok := p.key.(ed25519.PublicKey)
	if !ok || len(sig) != ed25519.SignatureSize {
		return false
	}
	if b.n == 0 {
		b.bv = ed25519consensus.NewBatchVerifier()
	}
	b.bv.Add(k, msg, sig)
	b.n++
	return true
}

// Len returns the number of signatures added.
func (b *Batch) Len() int { return b.n }

// Verify reports whether every signature in the batch is valid. An empty
// batch is valid.
func (b *Batch) Verify() bool {
	if b.n == 0 {
		return true
	}
	return b.bv.Verify()
}
