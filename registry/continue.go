package registry

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// EnsureContinued starts a log that continues another (Config.Continues):
// unless the log already holds it, it appends the continue record naming
// the other log's key and last checkpoint, signed by the operator key op,
// and waits until a checkpoint of this log covers it. Run at start-up, before
// the server takes writes, so that the record is the new log's first entry.
func (r *Registry) EnsureContinued(ctx context.Context, op *keys.PrivateKey) error {
	final, key := r.cfg.Continues, r.cfg.ContinuesKey
	if final == nil || key == nil {
		return nil
	}
	ops, err := r.Operators(ctx)
	if err != nil {
		return err
	}
	if ops == nil {
		return errors.New("the log has no operator chain to continue from")
	}
	if slices.Contains(ops.Continued, final.Origin) {
		return nil
	}
	rec := &record.Record{Type: record.TypeContinue, Prev: ops.Head, Checkpoint: string(final.Note), LogKey: key.Key(),
		Time: r.cfg.Now().UTC().Format(time.RFC3339)}
	rc, err := r.appendSigned(ctx, rec, op)
	if err != nil {
		if rf, ok := state.AsRefusal(err); ok {
			return errors.New("the continue record was refused: " + rf.Error())
		}
		return err
	}
	r.log.Info("this log continues another", "from", final.Origin, "size", final.Size, "index", rc.Index)
	_, err = r.lc.WaitCovered(ctx, rc.Index)
	return err
}
