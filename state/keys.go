package state

import (
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// KeyCache holds parsed public keys by key ID. A key ID is the hash of its
// key, so an entry never goes stale; the cache is bounded, so a log of
// millions of identities does not keep them all. Safe for concurrent use.
type KeyCache struct {
	c *lru.Cache[string, *keys.PublicKey]
}

// NewKeyCache returns a cache of at most n keys.
func NewKeyCache(n int) *KeyCache {
	c, _ := lru.New[string, *keys.PublicKey](max(n, 1))
	return &KeyCache{c: c}
}

// Get returns a cached key.
func (kc *KeyCache) Get(keyID string) (*keys.PublicKey, bool) {
	if kc == nil {
		return nil, false
	}
	return kc.c.Get(keyID)
}

// Parse returns an identity's public key, parsing it once, and checks that
// it is the key its ID names. A nil cache parses every time.
func (kc *KeyCache) Parse(id *Identity) (*keys.PublicKey, error) {
	if p, ok := kc.Get(id.KeyID); ok {
		return p, nil
	}
	p, err := keys.ParsePublicBase64(id.PublicKey)
	if err != nil {
		return nil, err
	}
	if p.ID() != id.KeyID {
		return nil, fmt.Errorf("identity %s holds a key with ID %s", id.KeyID, p.ID())
	}
	if kc != nil {
		kc.c.Add(id.KeyID, p)
	}
	return p, nil
}

// LookupKey returns a record.KeyLookup over the identities in v, parsing
// keys through c (which may be nil). It finds keys of any status: whether a
// key may still sign is decided by Apply.
func LookupKey(v View, c *KeyCache) record.KeyLookup {
	return func(keyID string) (*keys.PublicKey, error) {
		id, err := v.Identity(keyID)
		if err != nil || id == nil {
			return nil, err
		}
		return c.Parse(id)
	}
}
