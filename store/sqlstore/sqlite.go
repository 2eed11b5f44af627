//go:build cgo

package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"runtime"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// The writer connection never checkpoints the WAL itself: a checkpoint
// copies the WAL back into the database file and would stall the
// sequencer for its whole length. A background goroutine checkpoints
// instead, on its own connection, while writes go on.
var registerWriter sync.Once

const writerDriver = "sqlite3-vouch-writer"

// OpenSQLite opens (creating if needed) the SQLite database at path. The
// database runs in WAL mode with synchronous=FULL, so a committed
// transaction survives a crash of the process or the machine. Only one
// process may write to it; callers should hold a lock on its directory.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	registerWriter.Do(func() {
		sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA wal_autocheckpoint=0", nil)
			return err
		}})
	})
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_busy_timeout=10000&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=0&cache=private"
	w, err := sql.Open(writerDriver, base+"&_txlock=immediate&_secure_delete=1&_cache_size=-131072&_stmt_cache_size=64")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite3", base+"&_query_only=1&_cache_size=-32768&_stmt_cache_size=64")
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxLifetime(0)
	ck, err := sql.Open("sqlite3", base)
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	ck.SetMaxOpenConns(1)
	db := &DB{d: dialect{name: "sqlite", compact: compactSQLite, exclusive: true, forcedJoin: "CROSS JOIN"}, w: w, r: r}
	if err := w.PingContext(ctx); err != nil {
		db.Close()
		ck.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		ck.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go checkpointer(ck, stop, done)
	db.closeFn = func() error {
		close(stop)
		<-done
		return ck.Close()
	}
	return db, nil
}

// checkpointer copies the WAL into the database file in the background.
// A PASSIVE checkpoint never blocks the writer; once it has caught up, the
// writer starts the WAL over from the beginning, so it stays small.
func checkpointer(ck *sql.DB, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			ck.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
			return
		case <-t.C:
			ck.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// compactSQLite rebuilds the database file and empties the WAL, so that
// erased data survives in neither (secure_delete already zeroes freed pages).
func compactSQLite(ctx context.Context, db *DB) error {
	for _, q := range []string{`PRAGMA wal_checkpoint(TRUNCATE)`, `VACUUM`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
		if _, err := db.w.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
