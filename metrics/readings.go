package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// readings is the collector of the figures read at scrape time from the
// attached sources. A source that is not attached adds nothing: a mirror
// has no witnesses, a registry no upstream.
type readings struct {
	m *Metrics

	queueDepth, sequenced, checkpointed, integrationLag, checkpointAge, integrator *prometheus.Desc
	witnessLag, witnessLastSuccess, witnessAlarm                                   *prometheus.Desc
	mirrorLag, mirrorUpstream, mirrorStopped, mirrorLastSync                       *prometheus.Desc
}

func newReadings(m *Metrics) *readings {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &readings{
		m:                  m,
		queueDepth:         d("vouch_sequencer_queue_depth", "Submissions waiting for the sequencer."),
		sequenced:          d("vouch_log_sequenced_entries", "Entries stored in the log (sequenced), as read from the database."),
		checkpointed:       d("vouch_log_checkpoint_size_entries", "Tree size of the newest checkpoint (entries integrated and signed)."),
		integrationLag:     d("vouch_log_integration_lag_entries", "Entries sequenced but not yet covered by a checkpoint."),
		checkpointAge:      d("vouch_log_checkpoint_age_seconds", "Seconds since the newest checkpoint was signed."),
		integrator:         d("vouch_log_integrator", "1 if this process integrates the log and signs its checkpoints, else 0."),
		witnessLag:         d("vouch_witness_lag_entries", "Entries by which the newest checkpoint a witness cosigned is behind the log's newest checkpoint.", "witness"),
		witnessLastSuccess: d("vouch_witness_last_success_timestamp_seconds", "When a witness last cosigned a checkpoint (Unix time; 0: not since this process started).", "witness"),
		witnessAlarm:       d("vouch_witness_alarm", "1 if a witness refused a checkpoint in a way that means it saw another history of this log.", "witness"),
		mirrorLag:          d("vouch_mirror_lag_entries", "Entries by which the mirror is behind the upstream's newest checkpoint it has seen."),
		mirrorUpstream:     d("vouch_mirror_upstream_size_entries", "Tree size of the upstream's newest checkpoint the mirror has seen."),
		mirrorStopped:      d("vouch_mirror_stopped", "1 if the mirror stopped following the upstream on evidence of misbehaviour (see /api/v1/status)."),
		mirrorLastSync:     d("vouch_mirror_last_sync_timestamp_seconds", "When the mirror last caught up with the upstream (Unix time; 0: not since it started)."),
	}
}

// Describe implements prometheus.Collector.
func (c *readings) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queueDepth, c.sequenced, c.checkpointed, c.integrationLag, c.checkpointAge, c.integrator,
		c.witnessLag, c.witnessLastSuccess, c.witnessAlarm, c.mirrorLag, c.mirrorUpstream, c.mirrorStopped, c.mirrorLastSync} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *readings) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if s := c.m.log.Load(); s != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
		r := s.read(ctx)
		cancel()
		gauge(c.queueDepth, float64(r.QueueDepth))
		gauge(c.integrator, boolValue(r.Integrator))
		if !r.CheckpointTime.IsZero() {
			gauge(c.checkpointed, float64(r.CheckpointSize))
			gauge(c.checkpointAge, max(time.Since(r.CheckpointTime).Seconds(), 0))
		}
		if r.SequencedOK {
			gauge(c.sequenced, float64(r.Sequenced))
			gauge(c.integrationLag, float64(r.Sequenced-min(r.CheckpointSize, r.Sequenced)))
		}
		for _, w := range r.Witnesses {
			gauge(c.witnessLag, float64(w.Behind), w.Name)
			gauge(c.witnessLastSuccess, unixSeconds(w.LastSuccess), w.Name)
			gauge(c.witnessAlarm, boolValue(w.Alarm), w.Name)
		}
	}
	if s := c.m.mirror.Load(); s != nil {
		r := s.read()
		gauge(c.mirrorLag, float64(r.UpstreamSize-min(r.Size, r.UpstreamSize)))
		gauge(c.mirrorUpstream, float64(r.UpstreamSize))
		gauge(c.mirrorStopped, boolValue(r.Stopped))
		gauge(c.mirrorLastSync, unixSeconds(r.LastSync))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unixSeconds is t as Unix time in seconds, 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
