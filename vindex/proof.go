package vindex

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"filippo.io/torchwood/prefix"
)

// MaxProof is the most nodes a proof may hold: one per bit of a label,
// and the two a non-membership proof starts with.
const MaxProof = 258

// Proof is a membership or non-membership proof of a key in the tree.
type Proof struct {
	// Present says whether the key is in the tree.
	Present bool
	// Value is the key's leaf value, when present.
	Value [32]byte
	// Nodes are the siblings on the way from the key to the root (see
	// prefix.Tree.Lookup).
	Nodes []prefix.ProofNode
}

// Prove makes the proof of a key, by label, in the tree whose nodes r
// reads (a version of the stored tree: the newest node of each label at
// or before it).
func Prove(ctx context.Context, r Nodes, label [32]byte) (*Proof, error) {
	ps := &pathStorage{r: r}
	found, nodes, err := prefix.NewTree(Hash, ps).Lookup(ctx, label)
	if err != nil {
		return nil, err
	}
	p := &Proof{Present: found, Nodes: nodes}
	if found {
		p.Value = ps.leafValue
	}
	return p, nil
}

// Verify checks a proof against a root: that the key with this label has
// leaf value value (Present), or is absent.
func (p *Proof) Verify(root, label [32]byte) error {
	if len(p.Nodes) > MaxProof {
		return fmt.Errorf("the index proof has %d nodes; at most %d are possible", len(p.Nodes), MaxProof)
	}
	if p.Present {
		if err := prefix.VerifyMembershipProof(Hash, label, p.Value, p.Nodes, root); err != nil {
			return fmt.Errorf("the index proof of this key's value does not verify: %w", err)
		}
		return nil
	}
	if err := prefix.VerifyNonMembershipProof(Hash, label, p.Nodes, root); err != nil {
		return fmt.Errorf("the index proof that this key is absent does not verify: %w", err)
	}
	return nil
}

// pathStorage reads the nodes of one lookup in two reads: every node
// whose label is a prefix of the key (the path, since nodes are never
// removed from the tree), then their children.
type pathStorage struct {
	r         Nodes
	leafValue [32]byte
}

func (p *pathStorage) read(ctx context.Context, labels []prefix.Label) (map[prefix.Label]*stored, error) {
	keys := make([][]byte, len(labels))
	for i, l := range labels {
		keys[i] = labelKey(l)
	}
	got, err := p.r.Nodes(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := map[prefix.Label]*stored{}
	for i, k := range keys {
		b, ok := got[string(k)]
		if !ok {
			continue
		}
		s, err := decode(labels[i], b)
		if err != nil {
			return nil, err
		}
		out[labels[i]] = s
	}
	return out, nil
}

// Load reads one node (Lookup asks for the leaf first).
func (p *pathStorage) Load(ctx context.Context, l prefix.Label) (*prefix.Node, error) {
	got, err := p.read(ctx, []prefix.Label{l})
	if err != nil {
		return nil, err
	}
	s := got[l]
	if s == nil {
		return nil, errNotFound
	}
	if l.IsLeaf() {
		p.leafValue = s.value
	}
	return s.node, nil
}

// Store is not used: proofs only read.
func (p *pathStorage) Store(context.Context, ...*prefix.Node) error {
	return errors.New("vindex: a proof does not write")
}

// LoadPath returns the siblings of the path to label, from the label's
// sibling up to the root's child, as prefix.Tree.Lookup expects.
func (p *pathStorage) LoadPath(ctx context.Context, label prefix.Label) ([]*prefix.Node, error) {
	b := label.Bytes()
	prefixes := make([]prefix.Label, 0, label.BitLen()+1)
	for n := uint32(0); n <= label.BitLen(); n++ {
		var pb [32]byte
		copy(pb[:], b[:n/8])
		if n%8 != 0 {
			pb[n/8] = b[n/8] & byte(0xFF<<(8-n%8))
		}
		l, err := prefix.NewLabel(n, pb[:])
		if err != nil {
			return nil, err
		}
		prefixes = append(prefixes, l)
	}
	path, err := p.read(ctx, prefixes)
	if err != nil {
		return nil, err
	}
	if path[prefix.RootLabel] == nil {
		// Nothing written yet: the empty tree, whose root's children
		// are both the empty node.
		return []*prefix.Node{emptyNode}, nil
	}
	var children []prefix.Label
	for _, s := range path {
		if l := s.node.Label; !l.IsLeaf() && l != prefix.EmptyNodeLabel {
			children = append(children, s.node.Left, s.node.Right)
		}
	}
	kids, err := p.read(ctx, children)
	if err != nil {
		return nil, err
	}
	get := func(l prefix.Label) *stored {
		if s := path[l]; s != nil {
			return s
		}
		return kids[l]
	}
	// The walk of prefix's loadPath, over the nodes read.
	var nodes []*prefix.Node
	node := path[prefix.RootLabel]
	for node.node.Label != label {
		if !label.HasPrefix(node.node.Label) {
			if node.node.Label != prefix.EmptyNodeLabel {
				nodes = append(nodes, node.node)
			}
			break
		}
		left, right := get(node.node.Left), get(node.node.Right)
		if left == nil || right == nil {
			return nil, fmt.Errorf("vindex: the stored tree lacks a child of %s", LabelString(node.node.Label))
		}
		if label.SideOf(node.node.Label) == prefix.Left {
			nodes, node = append(nodes, right.node), left
		} else {
			nodes, node = append(nodes, left.node), right
		}
	}
	slices.Reverse(nodes)
	return nodes, nil
}
