package registry

import (
	"context"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/sigstore"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/vindex"
)

// Replica is one entry of another registry's log, copied by a mirror: the
// leaf as that log holds it, the statement of an attestation (nil if it
// was erased there), and the off-log data its record refers to that could
// be copied (notes, profiles).
type Replica struct {
	Leaf      []byte
	Statement []byte
	// Bundle is a keyless attestation's Sigstore bundle, unless erased:
	// the leaf commits to its digest, and the signer's identity is read
	// from its certificate.
	Bundle []byte
	OffLog []store.OffLog
}

// ReplicaError is an entry of the mirrored log that the state machine
// refuses: the original registry accepted something the rules forbid. A
// mirror stops following on it; the error is the evidence.
type ReplicaError struct {
	Index uint64
	Err   error
}

func (e *ReplicaError) Error() string {
	return fmt.Sprintf("entry %d of the mirrored log breaks the rules: %v", e.Index, e.Err)
}

func (e *ReplicaError) Unwrap() error { return e.Err }

// Replicate appends entries copied from the log this registry mirrors, at
// the indexes and log times they have there, each run through the same
// state machine as in the original: its state changes are stored as the
// original stored them. The first entry must be at index first, the next
// this store expects. Nothing is integrated: IntegrateReplica does that,
// with the original's signed checkpoint.
func (r *Registry) Replicate(ctx context.Context, first uint64, entries []Replica) error {
	if !r.lc.ReadOnly() {
		return fmt.Errorf("registry: only a mirror replicates entries")
	}
	var effects []*record.Entry
	var view *batchView
	var index *vindex.Update
	err := r.st.Sequence(ctx, func(tx store.SeqTx) error {
		ib := vindex.NewBatch()
		if h := tx.Head(); h.Sequenced != first {
			return fmt.Errorf("replicating from index %d, but the mirror holds %d entries", first, h.Sequenced)
		}
		parsed := make([]*record.Entry, len(entries))
		for i, rep := range entries {
			e, err := record.ParseLeaf(rep.Leaf)
			if err != nil {
				return &ReplicaError{Index: first + uint64(i), Err: err}
			}
			att := e
			if e.Import != nil {
				att = e.Inner
			}
			if att.Attestation != nil && rep.Statement != nil {
				if err := att.AttachBody(rep.Statement); err != nil {
					return &ReplicaError{Index: first + uint64(i), Err: fmt.Errorf("its statement: %w", err)}
				}
			}
			parsed[i] = e
		}
		view = newBatchView(tx, r.stateCache)
		if err := view.prefetch(parsed); err != nil {
			return err
		}
		for i, e := range parsed {
			idx := first + uint64(i)
			changes, err := state.Apply(view, e, state.Env{Index: idx, Time: e.Time, Keys: r.keyCache, Self: r.self()})
			if err != nil {
				if rf, ok := state.AsRefusal(err); ok {
					return &ReplicaError{Index: idx, Err: rf}
				}
				return err
			}
			kvs, err := view.record(changes)
			if err != nil {
				return err
			}
			row := entryRow(e, entries[i].Leaf, idx, changes)
			if att := e.Attestation != nil || e.Import != nil && e.Inner.Attestation != nil; att {
				row.Statement = entries[i].Statement
			}
			if e.Attestation != nil && e.Attestation.Bundle != nil && entries[i].Statement != nil && entries[i].Bundle != nil {
				if row.Keyless, err = replicaKeyless(e, entries[i].Bundle); err != nil {
					return &ReplicaError{Index: idx, Err: err}
				}
			}
			if err := tx.Append(row, kvs, entries[i].OffLog); err != nil {
				return err
			}
			ib.Add(idx, e, changes)
			if e.Record != nil && e.Record.Type == record.TypeBanish {
				effects = append(effects, e)
			}
		}
		var err error
		index, _, err = r.writeIndex(ctx, tx, view, first+uint64(len(entries)), ib)
		return err
	})
	if err != nil {
		if r.stateCache != nil {
			r.stateCache.Purge()
		}
		return err
	}
	index.Commit()
	view.commit()
	if len(effects) > 0 {
		r.afterCommit(effects)
	}
	return nil
}

// replicaKeyless checks a replicated keyless attestation's bundle against
// the digest its leaf holds and reads the signer's identity from it, as
// the original registry stored them. The bundle's chain was checked there
// and is checked again by clients and auditors against their own roots;
// a mirror needs no roots of its own.
func replicaKeyless(e *record.Entry, doc []byte) (*store.Keyless, error) {
	if err := e.AttachBundle(doc); err != nil {
		return nil, fmt.Errorf("its bundle: %w", err)
	}
	d, err := sigstore.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("its bundle: %w", err)
	}
	id, err := d.Identity()
	if err != nil {
		return nil, fmt.Errorf("its bundle's identity: %w", err)
	}
	b, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	return &store.Keyless{Bundle: doc, Identity: b, Issuer: id.Issuer, Subject: id.Subject}, nil
}

// IndexMismatchError reports a checkpoint that commits to another index
// root than the index rebuilt from its entries: the log's own index lies.
type IndexMismatchError struct {
	Size               uint64
	Committed, Rebuilt []byte
}

func (e *IndexMismatchError) Error() string {
	return fmt.Sprintf("the checkpoint of size %d commits to index root %x, but the index of its entries has root %x", e.Size, e.Committed, e.Rebuilt)
}

// IntegrateReplica stores the tree hashes of the replicated entries up to
// cp's size and cp itself, the original's signed checkpoint, once the
// entries' hashes give cp's root. stored are the hashes Replicate's caller
// computed (translog.Integrate over this store's tree from its latest
// checkpoint); they are checked again here.
func (r *Registry) IntegrateReplica(ctx context.Context, cp *translog.Checkpoint, leafHashes []tlog.Hash) error {
	old := uint64(0)
	if cur := r.lc.Latest(); cur != nil {
		old = cur.Size
	}
	if old+uint64(len(leafHashes)) != cp.Size {
		return fmt.Errorf("integrating %d entries onto a tree of %d does not make the checkpoint's %d", len(leafHashes), old, cp.Size)
	}
	err := r.st.Integrate(ctx, old, func() ([]translog.StoredHash, *store.CheckpointRow, error) {
		stored, root, err := translog.Integrate(int64(old), leafHashes, r.lc.HashReader(ctx))
		if err != nil {
			return nil, nil, err
		}
		if root != cp.Hash {
			return nil, nil, fmt.Errorf("the replicated entries do not hash to the checkpoint's root")
		}
		if cp.Index != nil {
			// The checkpoint commits to an index root: the index rebuilt
			// here from the same entries must have it.
			ours, err := r.IndexRoot(ctx, cp.Size)
			if err != nil {
				return nil, nil, err
			}
			if string(ours[:]) != string(cp.Index) {
				return nil, nil, &IndexMismatchError{Size: cp.Size, Committed: cp.Index, Rebuilt: ours[:]}
			}
		}
		return stored, &store.CheckpointRow{Size: cp.Size, Time: cp.Time, Root: cp.Hash, Note: cp.Note}, nil
	})
	if err != nil {
		return err
	}
	return r.lc.Refresh(ctx)
}
