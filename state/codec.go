package state

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The state is stored as objects under keys, one value per key and tree
// size: the object as it stood after the entry that last changed it. These
// are the keys. Package names cannot hold "@", so ReleasesPrefix(name)
// prefixes exactly the releases of one package.
const (
	// OperatorsKey holds the operator chain's Operators.
	OperatorsKey = "o"
	// PackagesPrefix prefixes every package's key.
	PackagesPrefix = "p/"
	// ReleasesAll prefixes every release's key.
	ReleasesAll = "r/"
)

// IdentityKey is the key of the Identity of a key ID.
func IdentityKey(keyID string) string { return "i/" + keyID }

// PackageKey is the key of a Package.
func PackageKey(name string) string { return PackagesPrefix + name }

// ReleaseKey is the key of the Release name@version.
func ReleaseKey(name, version string) string { return ReleasesAll + name + "@" + version }

// ReleasesPrefix prefixes the keys of every release of a package.
func ReleasesPrefix(name string) string { return ReleasesAll + name + "@" }

// NameHolderKey is the key of the name of the package that holds a name
// key (see record.NameKey), stored as a JSON string.
func NameHolderKey(nameKey string) string { return "n/" + nameKey }

// ContentAliasKey is the key of the sha256 digest of the content whose
// sha384 or sha512 digest is alias, stored as a JSON string.
func ContentAliasKey(alias string) string { return "c/" + alias }

// KeylessKey is the key under which a keyless attestation's dedup key is
// kept (a JSON string: the key itself), for replay protection.
func KeylessKey(dedup string) string { return "a/" + dedup }

// Encode encodes a state object for storage.
func Encode(obj any) ([]byte, error) { return json.Marshal(obj) }

// Decode decodes a stored object of type T; nil bytes decode to nil.
func Decode[T any](b []byte) (*T, error) {
	if b == nil {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("corrupt state object: %w", err)
	}
	return v, nil
}

// DecodeObject decodes a stored object by the kind its key names: an
// *Identity, *Package, *Release, *Operators or *string. Nil bytes decode
// to a nil object.
func DecodeObject(key string, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	switch {
	case key == OperatorsKey:
		return Decode[Operators](b)
	case strings.HasPrefix(key, "i/"):
		return Decode[Identity](b)
	case strings.HasPrefix(key, PackagesPrefix):
		return Decode[Package](b)
	case strings.HasPrefix(key, ReleasesAll):
		return Decode[Release](b)
	case strings.HasPrefix(key, "n/"), strings.HasPrefix(key, "c/"), strings.HasPrefix(key, "a/"):
		return Decode[string](b)
	}
	return nil, fmt.Errorf("unknown state key %q", key)
}

// Object is a state object with the key it is stored under.
type Object struct {
	Key   string
	Value any
}

// Objects lists the objects the changes create or modify, under their
// keys, in a fixed order.
func (c *Changes) Objects() []Object {
	var out []Object
	for _, id := range c.Identities {
		out = append(out, Object{IdentityKey(id.KeyID), id})
	}
	if c.Package != nil {
		out = append(out, Object{PackageKey(c.Package.Name), c.Package})
	}
	for _, r := range c.Releases {
		out = append(out, Object{ReleaseKey(r.Package, r.Version), r})
	}
	if c.Operators != nil {
		out = append(out, Object{OperatorsKey, c.Operators})
	}
	if c.NameKey != "" {
		name := c.Package.Name
		out = append(out, Object{NameHolderKey(c.NameKey), &name})
	}
	for _, alias := range slices.Sorted(maps.Keys(c.Aliases)) {
		d := c.Aliases[alias]
		out = append(out, Object{ContentAliasKey(alias), &d})
	}
	if c.Keyless != "" {
		k := c.Keyless
		out = append(out, Object{KeylessKey(k), &k})
	}
	return out
}
