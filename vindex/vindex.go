// Package vindex is the registry's verifiable index: an authenticated map
// from the questions readers ask to their complete answers, whose root
// every checkpoint commits to, so that a client can check that an answer
// leaves nothing out.
//
// The map is a Merkle prefix tree (filippo.io/torchwood/prefix: a
// compressed binary trie over 256-bit labels, with membership and
// non-membership proofs). Its keys are:
//
//   - package NAME: the package's state object with the state object of
//     every release it lists (Value), as the state machine left them;
//   - subject DIGEST: every log index of an attestation whose statement
//     names that content digest (a list);
//   - signer KEYID: every log index of an entry that key signed (a list).
//
// A key's label is SHA-256 over a domain, its kind and its name; a leaf's
// value is SHA-256 over the package value's bytes, or, for a list, the
// last link of a hash chain over its indexes (ListHash), so the integrator
// extends a list without reading it. The tree is stored as nodes versioned
// by the tree size they were written at, so proofs can be made against the
// root of any checkpoint; a node, once written, is never rewritten in
// place (an update writes a new version of the nodes on its path).
package vindex

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"filippo.io/torchwood/prefix"

	"github.com/vouchdev/vouch/state"
)

// Kinds of keys.
const (
	KindPackage = "package"
	KindSubject = "subject"
	KindSigner  = "signer"
)

// Hash is the tree's hash function, SHA-256.
func Hash(b []byte) [32]byte { return sha256.Sum256(b) }

// domain separates this map's hashes from any other use of SHA-256.
const domain = "vouch-index/v1"

// Label returns the label of a key.
func Label(kind, name string) [32]byte {
	return Hash([]byte(domain + "\x00" + kind + "\x00" + name))
}

// PackageValue returns the value of a package key: its state object and
// those of its releases (in the order the package lists them), exactly as
// stored, as one JSON document {"package": …, "releases": […]}.
func PackageValue(pkg []byte, releases [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"package":`)
	b.Write(pkg)
	b.WriteString(`,"releases":[`)
	for i, r := range releases {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// ValueHash is the leaf value of a package key with value bytes v.
func ValueHash(v []byte) [32]byte {
	return Hash(append([]byte(domain+"\x00value\x00"), v...))
}

// ListStart is the hash of an empty list.
var ListStart = Hash([]byte(domain + "\x00list"))

// ListNext extends a list's hash with one more index.
func ListNext(prev [32]byte, index uint64) [32]byte {
	var b [40]byte
	copy(b[:], prev[:])
	binary.BigEndian.PutUint64(b[32:], index)
	return Hash(b[:])
}

// ListHash is the leaf value of a list key holding indexes, in order.
func ListHash(indexes []uint64) [32]byte {
	h := ListStart
	for _, i := range indexes {
		h = ListNext(h, i)
	}
	return h
}

// LabelString formats a tree label as "BITLEN:HEX" (the hex of the bytes
// the bit length covers), the form proofs take in the API.
func LabelString(l prefix.Label) string {
	n := (l.BitLen() + 7) / 8
	if l == prefix.EmptyNodeLabel {
		return "empty"
	}
	return strconv.FormatUint(uint64(l.BitLen()), 10) + ":" + hex.EncodeToString(l.Bytes()[:n])
}

// ParseLabel parses LabelString's form.
func ParseLabel(s string) (prefix.Label, error) {
	if s == "empty" {
		return prefix.EmptyNodeLabel, nil
	}
	bl, hx, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(bl, 10, 16)
	if !ok || err != nil || n > 256 {
		return prefix.Label{}, fmt.Errorf("label %q: want BITLEN:HEX", s)
	}
	b, err := hex.DecodeString(hx)
	if err != nil || len(b) != int(n+7)/8 {
		return prefix.Label{}, fmt.Errorf("label %q: the hex must be %d bytes", s, (n+7)/8)
	}
	return prefix.NewLabel(uint32(n), b)
}

// appendLabelKey appends a label as stored: two bytes of bit length, then
// the 32 label bytes.
func appendLabelKey(b []byte, l prefix.Label) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(l.BitLen()))
	return append(b, l.Bytes()...)
}

func parseLabelKey(b []byte) (prefix.Label, error) {
	if len(b) != 34 {
		return prefix.Label{}, errors.New("vindex: a stored label is not 34 bytes")
	}
	return prefix.NewLabel(uint32(binary.BigEndian.Uint16(b)), b[2:])
}

// Key returns the key a node version is stored under as a row of its
// own (as stores written before tiles hold them, and MemoryNodes; see
// tile.go): the tree size it was written at (8 bytes, big-endian, so that
// one version's nodes are written together at the end of the table) and
// its label.
func Key(version uint64, l prefix.Label) []byte {
	b := make([]byte, 8, 42)
	binary.BigEndian.PutUint64(b, version)
	return appendLabelKey(b, l)
}

// stored is a node version: the node, the tree size it was written at,
// for a leaf its value (which the hash alone does not give back: a list
// is extended from it), and for an inner node the version and hash of
// each child, so that a reader walks from a root to the nodes of its
// version by key alone, and reads only the nodes on its way: the hash of
// each sibling it passes is in their parent.
type stored struct {
	node        *prefix.Node
	version     uint64
	value       [32]byte
	left, right child
	tiled       bool // stored in a tile (see tile.go), not a row of its own
}

// kid is a child of an inner node: its label, and what the node holds of
// it.
type kid struct {
	l prefix.Label
	c child
}

// kids returns an inner node's children, left then right.
func (s *stored) kids() [2]kid {
	return [2]kid{{s.node.Left, s.left}, {s.node.Right, s.right}}
}

// child is what an inner node holds of each child: its version and hash,
// and whether it is stored in a tile.
type child struct {
	version uint64
	hash    [32]byte
	tiled   bool
}

// Sizes of stored nodes.
const (
	leafSize  = 64               // hash, value
	innerSize = 32 + 2*42 + 2*32 // hash; each child's label and version; each child's hash
	// innerSizeV1 is an inner node as stored before children's hashes
	// were: its hash and each child's label and version (see
	// MemoryNodes.Upgrade).
	innerSizeV1 = 32 + 2*42
)

// encode stores a node: a leaf as its hash and value; an inner node as its
// hash, each child's label and version, then each child's hash.
func (s *stored) encode() []byte {
	n := s.node
	if n.Label.IsLeaf() {
		return append(append(make([]byte, 0, leafSize), n.Hash[:]...), s.value[:]...)
	}
	b := append(make([]byte, 0, innerSize), n.Hash[:]...)
	if n.Label == prefix.EmptyNodeLabel {
		return b
	}
	b = appendLabelKey(b, n.Left)
	b = binary.BigEndian.AppendUint64(b, s.left.version)
	b = appendLabelKey(b, n.Right)
	b = binary.BigEndian.AppendUint64(b, s.right.version)
	return append(append(b, s.left.hash[:]...), s.right.hash[:]...)
}

func decode(version uint64, label prefix.Label, b []byte) (*stored, error) {
	n := &prefix.Node{Label: label}
	if len(b) < 32 {
		return nil, errors.New("vindex: a stored node is too short")
	}
	copy(n.Hash[:], b)
	s := &stored{node: n, version: version}
	switch {
	case label.IsLeaf():
		if len(b) != leafSize {
			return nil, errors.New("vindex: a stored leaf is not 64 bytes")
		}
		copy(s.value[:], b[32:])
	case label == prefix.EmptyNodeLabel:
	default:
		if len(b) != innerSize {
			return nil, fmt.Errorf("vindex: a stored node is %d bytes, not %d", len(b), innerSize)
		}
		var err error
		if n.Left, err = parseLabelKey(b[32:66]); err != nil {
			return nil, err
		}
		s.left.version = binary.BigEndian.Uint64(b[66:74])
		if n.Right, err = parseLabelKey(b[74:108]); err != nil {
			return nil, err
		}
		s.right.version = binary.BigEndian.Uint64(b[108:116])
		s.left.hash = [32]byte(b[116:148])
		s.right.hash = [32]byte(b[148:180])
	}
	return s, nil
}

// decodeRow decodes the node stored under key k, a row of its own.
func decodeRow(k, b []byte) (*stored, error) {
	v, l, err := parseKey(k)
	if err != nil {
		return nil, err
	}
	return decode(v, l, b)
}

// parseKey splits a stored node's key.
func parseKey(k []byte) (uint64, prefix.Label, error) {
	if len(k) != 42 {
		return 0, prefix.Label{}, errors.New("vindex: a stored node's key is not 42 bytes")
	}
	l, err := parseLabelKey(k[8:])
	return binary.BigEndian.Uint64(k), l, err
}

// Nodes reads stored node versions by key (see Key). Absent ones are
// absent from the map.
type Nodes interface {
	Nodes(ctx context.Context, keys [][]byte) (map[string][]byte, error)
}

// NodeRow is a node version to store, under its key.
type NodeRow struct {
	Key, Node []byte
}

// errNotFound is how a storage says a node is absent, for the prefix
// package.
var errNotFound = prefix.ErrNodeNotFound

// PackageValueOf returns the value of a package key for the state the
// state machine keeps: the package and each release it lists, encoded as
// the state is stored (state.Encode). rels must be the package's releases
// in the order of p.Versions.
func PackageValueOf(p *state.Package, rels []*state.Release) ([]byte, error) {
	return packageValue(p, rels, nil)
}

// StoredView is a StateView that can also give the stored bytes
// (state.Encode's) of the objects it returned, which spares encoding them
// again; nil means it has not got them.
type StoredView interface {
	StateView
	Stored(key string) []byte
}

// packageValue is PackageValueOf, taking what it can of the encoded
// objects from st (which may be nil).
func packageValue(p *state.Package, rels []*state.Release, st StoredView) ([]byte, error) {
	if len(rels) != len(p.Versions) {
		return nil, fmt.Errorf("vindex: package %s lists %d releases, %d given", p.Name, len(p.Versions), len(rels))
	}
	encode := func(key string, o any) ([]byte, error) {
		if st != nil {
			if b := st.Stored(key); b != nil {
				return b, nil
			}
		}
		return state.Encode(o)
	}
	pb, err := encode(state.PackageKey(p.Name), p)
	if err != nil {
		return nil, err
	}
	rb := make([][]byte, len(rels))
	for i, r := range rels {
		if r == nil || r.Version != p.Versions[i] {
			return nil, fmt.Errorf("vindex: release %d of %s is not %s", i, p.Name, p.Versions[i])
		}
		if rb[i], err = encode(state.ReleaseKey(p.Name, r.Version), r); err != nil {
			return nil, err
		}
	}
	return PackageValue(pb, rb), nil
}

// ParsePackageValue decodes a package key's value.
func ParsePackageValue(v []byte) (*state.Package, []*state.Release, error) {
	var doc struct {
		Package  *state.Package   `json:"package"`
		Releases []*state.Release `json:"releases"`
	}
	if err := json.Unmarshal(v, &doc); err != nil || doc.Package == nil {
		return nil, nil, errors.New("the index value is not a package and its releases")
	}
	return doc.Package, doc.Releases, nil
}
