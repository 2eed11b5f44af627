package registry

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/cosign"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/translog"
)

// witnessing is the registry's part of getting its log witnessed: when
// Config.WitnessPolicy is set, only checkpoints that meet the policy's
// quorum are published (served at /log/checkpoint and taken as "the
// latest" by every read), the way Tessera publishes witnessed checkpoints
// only. The integrating replica runs the gateway; every replica reads the
// witnessed checkpoint from the database.
type witnessing struct {
	policy  *cosign.Policy
	gateway *cosign.Gateway

	mu      sync.Mutex
	cp      *translog.Checkpoint // the newest witnessed checkpoint known
	read    time.Time            // when cp was last read from the database
	changed chan struct{}        // closed and replaced when cp changes
}

// witnessedTTL is how long a replica trusts its copy of the witnessed
// checkpoint before it reads the database again.
const witnessedTTL = 200 * time.Millisecond

func (r *Registry) startWitnessing(ctx context.Context) error {
	w := &witnessing{policy: r.cfg.WitnessPolicy, changed: make(chan struct{})}
	g, err := cosign.NewGateway(cosign.GatewayConfig{Policy: w.policy, Log: r.lc, Publish: r.publishWitnessed,
		Interval: r.cfg.WitnessInterval, Client: r.cfg.WitnessClient, Logger: r.log})
	if err != nil {
		return err
	}
	w.gateway = g
	r.witnessing = w
	if _, err := r.refreshWitnessed(ctx); err != nil {
		return err
	}
	r.wg.Add(1)
	go r.runGateway(ctx)
	return nil
}

// runGateway runs the gateway while this replica integrates the log (one
// replica submits to the witnesses at a time).
func (r *Registry) runGateway(ctx context.Context) {
	defer r.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if r.Leading() {
			lctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { r.witnessing.gateway.Run(lctx); close(done) }()
			for r.Leading() && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
			cancel()
			<-done
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// publishWitnessed records a checkpoint that met the quorum.
func (r *Registry) publishWitnessed(ctx context.Context, cp *translog.Checkpoint, note []byte) error {
	if err := r.st.SaveWitnessed(ctx, &store.CheckpointRow{Size: cp.Size, Time: cp.Time, Root: cp.Hash, Note: note}); err != nil {
		return err
	}
	w := *cp
	w.Note = note
	r.setWitnessed(&w)
	return nil
}

func (r *Registry) setWitnessed(cp *translog.Checkpoint) {
	w := r.witnessing
	w.mu.Lock()
	defer w.mu.Unlock()
	w.read = time.Now()
	if w.cp != nil && cp.Size <= w.cp.Size {
		return
	}
	w.cp = cp
	close(w.changed)
	w.changed = make(chan struct{})
}

// refreshWitnessed reads the newest witnessed checkpoint from the database
// (another replica may have published it) unless the copy is fresh.
func (r *Registry) refreshWitnessed(ctx context.Context) (*translog.Checkpoint, error) {
	w := r.witnessing
	w.mu.Lock()
	cp, fresh := w.cp, time.Since(w.read) < witnessedTTL
	w.mu.Unlock()
	if fresh && cp != nil {
		return cp, nil
	}
	row, err := r.st.LatestWitnessed(ctx)
	if errors.Is(err, store.ErrNotFound) {
		w.mu.Lock()
		w.read = time.Now()
		w.mu.Unlock()
		return cp, nil
	}
	if err != nil {
		return nil, err
	}
	r.setWitnessed(&translog.Checkpoint{Origin: r.Origin(), Size: row.Size, Hash: row.Root, Note: row.Note, Time: row.Time})
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cp, nil
}

// published returns the checkpoint the registry publishes as its latest:
// the newest witnessed one with a witness policy, the newest signed one
// without.
func (r *Registry) published(ctx context.Context) (*translog.Checkpoint, error) {
	if r.witnessing == nil {
		return r.lc.Checkpoint(ctx)
	}
	cp, err := r.refreshWitnessed(ctx)
	if err != nil {
		return nil, err
	}
	if cp == nil {
		return nil, &vouch.UnavailableError{Err: errors.New("no checkpoint has been cosigned by a quorum of the witness policy yet")}
	}
	return cp, nil
}

// waitPublished waits until a published checkpoint covers entry index.
func (r *Registry) waitPublished(ctx context.Context, index uint64) (*translog.Checkpoint, error) {
	if r.witnessing == nil {
		return r.lc.WaitCovered(ctx, index)
	}
	tick := time.NewTicker(witnessedTTL)
	defer tick.Stop()
	for {
		cp, err := r.refreshWitnessed(ctx)
		if err != nil {
			return nil, err
		}
		if cp != nil && cp.Size > index {
			return cp, nil
		}
		r.witnessing.mu.Lock()
		ch := r.witnessing.changed
		r.witnessing.mu.Unlock()
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// treeSize resolves a requested tree size against the published
// checkpoint: 0 means its size; a larger size is invalid.
func (r *Registry) treeSize(ctx context.Context, size uint64) (uint64, error) {
	cp, err := r.published(ctx)
	if err != nil {
		return 0, err
	}
	if size == 0 {
		return cp.Size, nil
	}
	if size > cp.Size {
		return 0, vouch.Invalid("tree size %d is beyond the latest published checkpoint (%d)", size, cp.Size)
	}
	return size, nil
}

// witnessStatus is the witnessing part of /api/v1/status.
func (r *Registry) witnessStatus(ctx context.Context, st *api.Status) error {
	if r.witnessing == nil {
		return nil
	}
	cp, err := r.refreshWitnessed(ctx)
	if err != nil {
		return err
	}
	if cp != nil {
		st.WitnessedSize = cp.Size
	}
	if r.Leading() {
		for _, w := range r.witnessing.gateway.Status() {
			st.Witnesses = append(st.Witnesses, api.WitnessStatus{Name: w.Name, URL: w.URL, Size: w.Size,
				LastSuccess: w.LastSuccess, LastError: w.LastError, Alarm: w.Alarm})
			if w.Alarm != "" {
				st.Alarms = append(st.Alarms, "witness "+w.Name+": "+w.Alarm)
			}
		}
	}
	return nil
}
