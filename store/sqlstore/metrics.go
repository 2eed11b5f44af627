package sqlstore

import (
	"time"

	"github.com/vouchdev/vouch/metrics"
)

// SetMetrics makes the store time its transactions and reads into m,
// labelled with its backend ("sqlite" or "postgres"). It may be called
// while the store is in use.
func (db *DB) SetMetrics(m *metrics.Metrics) { db.timer.Store(m.DB(db.d.name)) }

// since records a transaction of a kind that started at start: every
// transaction and read starts with defer db.since(kind, time.Now()).
func (db *DB) since(kind metrics.TxKind, start time.Time) { db.timer.Load().Since(kind, start) }
