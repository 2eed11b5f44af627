// Package backend opens the storage a registry runs on, from the --db and
// --blobs settings: SQLite and a directory inside the data directory by
// default, PostgreSQL and an S3-compatible bucket at scale.
package backend

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/blob/s3blob"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/store/sqlstore"
)

// OpenStore opens the database: dbURL "" means SQLite in the data
// directory; postgres:// (or postgresql://) URLs mean PostgreSQL.
func OpenStore(ctx context.Context, dataDir, dbURL string) (*sqlstore.DB, error) {
	switch {
	case dbURL == "":
		return sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, datadir.DatabaseFile))
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		return sqlstore.OpenPostgres(ctx, dbURL)
	}
	return nil, fmt.Errorf("--db %q: want a postgres:// URL (or nothing, for SQLite in the data directory)", redact(dbURL))
}

// OpenBlobs opens the blob store: "" means the data directory's blobs/,
// s3:// URLs an S3-compatible bucket, anything else a directory.
func OpenBlobs(ctx context.Context, dataDir, blobsURL string) (blob.Store, error) {
	switch {
	case blobsURL == "":
		return blob.OpenDir(filepath.Join(dataDir, datadir.BlobDir))
	case strings.HasPrefix(blobsURL, "s3://"):
		return s3blob.Open(ctx, blobsURL)
	case strings.Contains(blobsURL, "://"):
		return nil, fmt.Errorf("--blobs %q: want s3://BUCKET?endpoint=HOST:PORT or a directory", blobsURL)
	}
	return blob.OpenDir(blobsURL)
}

// redact hides a password in a URL for messages.
func redact(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "…" + u[i:]
		}
	}
	return u
}
