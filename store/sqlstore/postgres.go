package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver (pgx)
)

// Advisory lock keys. Sequencing and integration transactions take
// transaction-scoped locks, so that any number of servers can share one
// database; the integrator holds a session lock for as long as it leads.
const (
	lockSequenceKey  = 0x766f7563_00000001 // "vouc" 1
	lockIntegrateKey = 0x766f7563_00000002
	lockLeaderKey    = 0x766f7563_00000003
)

// OpenPostgres opens a PostgreSQL database (a postgres:// URL, as pgx
// understands it) and applies the schema migrations. Several servers may
// open the same database at once.
func OpenPostgres(ctx context.Context, dsn string) (*DB, error) {
	p, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	p.SetMaxOpenConns(24)
	p.SetMaxIdleConns(24)
	p.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{
		d: dialect{
			name:          "postgres",
			numbered:      true,
			lockSequence:  fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lockSequenceKey),
			lockIntegrate: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lockIntegrateKey),
			lead:          leadPostgres,
			compact:       compactPostgres,
			forcedJoin:    "JOIN",
		},
		w: p, r: p,
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.PingContext(pctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("PostgreSQL schema: %w", err)
	}
	return db, nil
}

// leadPostgres tries to take the integrator's session lock on a connection
// of its own. The lock is held until the lease is released or the
// connection dies, when PostgreSQL releases it and another server takes over.
func leadPostgres(ctx context.Context, db *DB) (Lease, bool, error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT pg_try_advisory_lock(%d)", lockLeaderKey)).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, err
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return &pgLease{conn: conn}, true, nil
}

type pgLease struct{ conn *sql.Conn }

// Alive checks that the connection holding the lock is still there.
func (l *pgLease) Alive(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return l.conn.PingContext(ctx) == nil
}

func (l *pgLease) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_unlock(%d)", lockLeaderKey)); err != nil {
		// The connection may still hold the lock: never give it back to
		// the pool, close it, so PostgreSQL releases the lock with it.
		l.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	l.conn.Close()
}

// compactPostgres rewrites the tables that hold erasable data, so that
// deleted rows do not linger in their pages.
func compactPostgres(ctx context.Context, db *DB) error {
	_, err := db.w.ExecContext(ctx, `VACUUM (FULL) offlog, statements, keyless`)
	return err
}
