package registry

import (
	"context"
	"sync"
	"time"

	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/state"
)

// startMetrics wires the registry into Config.Metrics, if set: the store
// times its transactions, the log's figures are read at every scrape, and
// a goroutine observes the time to proof of submissions acknowledged
// before a checkpoint covered them.
func (r *Registry) startMetrics(ctx context.Context) {
	m := r.cfg.Metrics
	if m == nil {
		return
	}
	if s, ok := r.st.(interface{ SetMetrics(*metrics.Metrics) }); ok {
		s.SetMetrics(m)
	}
	detach := m.AttachLog(r.logReadings)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer detach()
		r.watchProofs(ctx)
	}()
}

// observeSubmit records the outcome of a submission received at start:
// its refusal code, or its time to acknowledgement, and (now or once a
// checkpoint covers it) its time to proof.
func (r *Registry) observeSubmit(start time.Time, rc Receipt, err error) {
	m := r.cfg.Metrics
	if m == nil {
		return
	}
	if err != nil {
		if rf, ok := state.AsRefusal(err); ok {
			m.Refused(string(rf.Code))
		}
		return
	}
	m.ObserveAck(time.Since(start))
	if cp := r.lc.Latest(); cp != nil && cp.Size > rc.Index {
		// The usual case with an exclusive store: the batch's own
		// transaction integrated it.
		m.ObserveProof(time.Since(start))
		return
	}
	r.proofs.add(r, rc.Index, start)
}

// proofWatch holds the acknowledged submissions that no checkpoint covered
// yet (with a shared store, until the integrator signs one), to observe
// their time to proof when one does. It holds at most maxAwaitingProof of
// them, so a stalled integrator cannot make it grow without bound; the
// ones beyond go unobserved (vouch_log_integration_lag_entries shows the
// stall).
type proofWatch struct {
	mu      sync.Mutex
	waiting []awaitingProof
}

type awaitingProof struct {
	index uint64
	start time.Time
}

const maxAwaitingProof = 1 << 16

// add records that entry index, received at start, awaits its checkpoint.
func (w *proofWatch) add(r *Registry, index uint64, start time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Looked at again under the lock: watchProofs reads the checkpoint
	// before it takes the lock, so an entry it did not see as waiting is
	// seen covered here.
	if cp := r.lc.Latest(); cp != nil && cp.Size > index {
		r.cfg.Metrics.ObserveProof(time.Since(start))
		return
	}
	if len(w.waiting) < maxAwaitingProof {
		w.waiting = append(w.waiting, awaitingProof{index: index, start: start})
	}
}

// covered observes the time to proof of the waiting entries that a
// checkpoint of the given size covers.
func (w *proofWatch) covered(m *metrics.Metrics, size uint64) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := w.waiting[:0]
	for _, a := range w.waiting {
		if a.index < size {
			m.ObserveProof(now.Sub(a.start))
		} else {
			keep = append(keep, a)
		}
	}
	w.waiting = keep
}

// watchProofs observes the time to proof of waiting entries as new
// checkpoints arrive, until ctx ends.
func (r *Registry) watchProofs(ctx context.Context) {
	for {
		changed := r.lc.Changed()
		if cp := r.lc.Latest(); cp != nil {
			r.proofs.covered(r.cfg.Metrics, cp.Size)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// logReadings are the log's figures for a scrape.
func (r *Registry) logReadings(ctx context.Context) metrics.LogReadings {
	rd := metrics.LogReadings{QueueDepth: r.lc.QueueDepth(), Integrator: r.Leading()}
	cp := r.lc.Latest()
	if cp != nil {
		rd.CheckpointSize, rd.CheckpointTime = cp.Size, cp.Time
	}
	if head, err := r.st.Head(ctx); err == nil {
		rd.Sequenced, rd.SequencedOK = head.Sequenced, true
	}
	if r.witnessing != nil && r.Leading() && cp != nil {
		for _, w := range r.witnessing.gateway.Status() {
			rd.Witnesses = append(rd.Witnesses, metrics.WitnessReadings{Name: w.Name, Behind: cp.Size - min(w.Size, cp.Size),
				LastSuccess: w.LastSuccess, Alarm: w.Alarm != ""})
		}
	}
	return rd
}
