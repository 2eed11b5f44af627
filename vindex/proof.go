package vindex

import (
	"context"
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

// Prove makes the proof of a key, by label, in the version of the tree
// written at tree size version, reading its nodes through r: from that
// version's root down, the nodes on the way, one read per level.
func Prove(ctx context.Context, r Nodes, version uint64, label [32]byte) (*Proof, error) {
	u := NewUpdate(r, nil, version, false)
	target := leafLabel(label)
	if err := u.fetch(ctx, []ref{{prefix.RootLabel, version, either}}); err != nil {
		return nil, err
	}
	node := u.nodes[prefix.RootLabel]
	if node == nil {
		if version == 0 {
			// Nothing written yet: the empty tree, whose root's
			// children are both the empty node.
			return &Proof{Nodes: []prefix.ProofNode{{Label: emptyNode.Label, Hash: emptyNode.Hash}}}, nil
		}
		return nil, fmt.Errorf("vindex: no version of the index at tree size %d", version)
	}
	// The walk of prefix's loadPath, over the version's nodes: only the
	// nodes on the way are read; their siblings' hashes are in them.
	var path []prefix.ProofNode
	for node != nil && node.node.Label != target {
		if !target.HasPrefix(node.node.Label) {
			if node.node.Label != prefix.EmptyNodeLabel {
				path = append(path, prefix.ProofNode{Label: node.node.Label, Hash: node.node.Hash})
			}
			break
		}
		next, nc, other, oc := sides(node, target)
		path = append(path, prefix.ProofNode{Label: other, Hash: oc.hash})
		if !target.HasPrefix(next) {
			// The key would be inserted beside next.
			if next != prefix.EmptyNodeLabel {
				path = append(path, prefix.ProofNode{Label: next, Hash: nc.hash})
			}
			node = nil
			break
		}
		if err := u.fetch(ctx, []ref{{next, nc.version, layoutOf(nc)}}); err != nil {
			return nil, err
		}
		if node = u.nodes[next]; node == nil {
			return nil, fmt.Errorf("vindex: the stored tree lacks the node %s", LabelString(next))
		}
	}
	slices.Reverse(path)
	p := &Proof{Present: node != nil && node.node.Label == target, Nodes: path}
	if p.Present {
		p.Value = node.value
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
