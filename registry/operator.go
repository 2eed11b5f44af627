package registry

import (
	"context"
	"slices"
	"time"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
)

// Operators returns the operator chain's state at the tip of the log, or nil
// before genesis.
func (r *Registry) Operators(ctx context.Context) (*state.Operators, error) {
	b, err := r.st.Get(ctx, state.OperatorsKey, maxSize)
	if err != nil {
		return nil, err
	}
	return state.Decode[state.Operators](b)
}

// EnsureOperator starts the operator chain with a genesis record naming op,
// if the log has none, and records the delete window if it differs from the
// one in force. It is run by every server at start-up; concurrent starts
// are harmless, as only one genesis can be accepted.
func (r *Registry) EnsureOperator(ctx context.Context, op *keys.PrivateKey, window time.Duration) error {
	ops, err := r.Operators(ctx)
	if err != nil {
		return err
	}
	secs := int64(window / time.Second)
	now := r.cfg.Now().UTC().Format(time.RFC3339)
	if ops == nil {
		rec := &record.Record{Type: record.TypeGenesis, PublicKeys: []string{op.Public().Base64()}, DeleteWindow: &secs, Time: now}
		_, err := r.appendSigned(ctx, rec, op)
		if rf, ok := state.AsRefusal(err); ok && rf.Code == state.CodeGenesisExists {
			return nil
		}
		return err
	}
	if ops.DeleteWindow == secs {
		return nil
	}
	if !slices.Contains(ops.Keys, op.ID()) {
		r.log.Warn("the delete window differs from the log's, but this server's operator key is not an operator; keeping the log's",
			"log", ops.Window(), "flag", window)
		return nil
	}
	rec := &record.Record{Type: record.TypeSettings, Prev: ops.Head, DeleteWindow: &secs, Time: now}
	_, err = r.appendSigned(ctx, rec, op)
	return err
}

// appendSigned signs a record with the given keys and appends it.
func (r *Registry) appendSigned(ctx context.Context, rec *record.Record, signers ...*keys.PrivateKey) (Receipt, error) {
	env, err := record.SignRecord(rec, signers...)
	if err != nil {
		return Receipt{}, err
	}
	env, payload, err := record.CanonicalEnvelope(env)
	if err != nil {
		return Receipt{}, err
	}
	e, err := record.NewRecordEntry(env, payload)
	if err != nil {
		return Receipt{}, err
	}
	return r.Append(ctx, e, []store.OffLog(nil))
}
