package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/vindex"
)

// MaxListProof is the most log indexes a list's completeness proof
// carries: a signer or subject with more is answered with 422
// proof_too_large, so that no one request costs more than that.
const MaxListProof = 100_000

// storedNodes reads the index's node versions from the store.
type storedNodes struct{ st store.IndexTree }

func (n storedNodes) Nodes(ctx context.Context, keys [][]byte) (map[string][]byte, error) {
	return n.st.IndexNodes(ctx, keys)
}

// Complete implements vouch.StateReader: the index's proof of a key's
// whole value at tree size size (a checkpoint's), with the value.
func (r *Registry) Complete(ctx context.Context, kind, key string, size uint64) (*api.Completeness, error) {
	switch kind {
	case vindex.KindPackage, vindex.KindSubject, vindex.KindSigner:
	default:
		return nil, vouch.Invalid("no index of %q", kind)
	}
	if _, err := r.IndexRoot(ctx, size); errors.Is(err, store.ErrNotFound) {
		return nil, vouch.Invalid("the index has no version at tree size %d: completeness is proven at the size of a checkpoint signed since the index began", size)
	} else if err != nil {
		return nil, err
	}
	label := vindex.Label(kind, key)
	p, err := vindex.Prove(ctx, storedNodes{r.st}, size, label)
	if err != nil {
		return nil, &UnavailableError{Err: fmt.Errorf("index proof of %s %s at %d: %w", kind, key, size, err)}
	}
	out := &api.Completeness{Kind: kind, Key: key, TreeSize: size, Present: p.Present, Proof: make([]api.IndexProofNode, len(p.Nodes))}
	for i, n := range p.Nodes {
		out.Proof[i] = api.IndexProofNode{Label: vindex.LabelString(n.Label), Hash: n.Hash[:]}
	}
	if !p.Present {
		return out, nil
	}
	var leaf [32]byte
	switch kind {
	case vindex.KindPackage:
		pkg, rels, err := r.PackageAt(ctx, key, size)
		if err != nil {
			return nil, err
		}
		if pkg == nil {
			return nil, &UnavailableError{Err: fmt.Errorf("the index holds package %s at %d, the state does not", key, size)}
		}
		byVersion := map[string]*state.Release{}
		for _, rel := range rels {
			byVersion[rel.Version] = rel
		}
		ordered := make([]*state.Release, len(pkg.Versions))
		for i, v := range pkg.Versions {
			ordered[i] = byVersion[v]
		}
		if out.Value, err = vindex.PackageValueOf(pkg, ordered); err != nil {
			return nil, &UnavailableError{Err: err}
		}
		leaf = vindex.ValueHash(out.Value)
	default:
		q := &store.Query{Size: size, Limit: MaxListProof + 1}
		if kind == vindex.KindSubject {
			q.Subject, q.Kind = key, string(record.KindAttestation)
		} else {
			q.Signer = key
		}
		rows, err := r.st.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		if len(rows) > MaxListProof {
			return nil, &vouch.ProofTooLargeError{Msg: fmt.Sprintf("the index lists more than %d entries for %s %s: too many to prove in one answer", MaxListProof, kind, key)}
		}
		out.Indexes = make([]uint64, len(rows))
		for i, row := range rows {
			out.Indexes[i] = row.Index
		}
		leaf = vindex.ListHash(out.Indexes)
	}
	if leaf != p.Value {
		// The index and the state or query index disagree: a fault of
		// this registry, which an auditor would report too.
		return nil, &UnavailableError{Err: fmt.Errorf("the index's value of %s %s at %d does not match the registry's state", kind, key, size)}
	}
	return out, nil
}
