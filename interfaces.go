package vouch

import (
	"context"
	"io"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/translog"
)

// LogReader reads the log: its checkpoints, tiles, entries and proofs.
type LogReader interface {
	// Origin returns the log's origin.
	Origin() string
	// Checkpoint returns the latest checkpoint.
	Checkpoint(ctx context.Context) (*translog.Checkpoint, error)
	// Checkpoints lists the checkpoints of size at least from, oldest
	// first, at most limit (for auditors, who check each).
	Checkpoints(ctx context.Context, from uint64, limit int) ([]*translog.Checkpoint, error)
	// WaitCovered waits until a checkpoint covers entry index.
	WaitCovered(ctx context.Context, index uint64) (*translog.Checkpoint, error)
	// Entry returns an entry with its inclusion proof in the tree of the
	// given size (0: the latest).
	Entry(ctx context.Context, index, size uint64) (*Entry, error)
	// InclusionProof proves entry index in the tree of the given size.
	InclusionProof(ctx context.Context, index, size uint64) (tlog.RecordProof, error)
	// ConsistencyProof proves the tree of size to (0: the latest) extends
	// the tree of size from, and returns to.
	ConsistencyProof(ctx context.Context, from, to uint64) (tlog.TreeProof, uint64, error)
	// Tile and EntryBundle return C2SP tlog-tiles of the latest tree.
	Tile(ctx context.Context, level, index uint64, width int) ([]byte, error)
	EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error)
	// Status says what this server is doing with the log.
	Status(ctx context.Context) (*api.Status, error)
}

// StateReader reads packages, releases, identities and the operator chain
// as of any tree size (resolved first with Resolve).
type StateReader interface {
	// Resolve turns at= (a tree size, 0 for the latest) or asof= (an RFC
	// 3339 time) into a tree size and the checkpoint an answer as of it is
	// valid for.
	Resolve(ctx context.Context, at uint64, asof string) (uint64, *translog.Checkpoint, error)
	// PackageAt returns a package and its releases, or nil.
	PackageAt(ctx context.Context, name string, size uint64) (*state.Package, []*state.Release, error)
	// ReleaseAt returns a release and its package, or a nil release.
	ReleaseAt(ctx context.Context, name, version string, size uint64) (*state.Release, *state.Package, error)
	// PackagesAt lists packages in name order, after a name.
	PackagesAt(ctx context.Context, size uint64, after string, limit int) ([]*state.Package, error)
	// OperatorsAt returns the operator chain's state, or nil before genesis.
	OperatorsAt(ctx context.Context, size uint64) (*state.Operators, error)
	// IdentityState returns an identity, or nil.
	IdentityState(ctx context.Context, keyID string, size uint64) (*state.Identity, error)
	// Profile returns the off-log profile behind a commitment, or
	// erased=true.
	Profile(ctx context.Context, commitment string) (prof *api.Profile, erased bool, err error)
	// Note returns an off-log note's text, or "" if erased.
	Note(ctx context.Context, digest string) string
	// Complete returns the verifiable index's proof of a key's complete
	// value at tree size size, which must be a checkpoint's (kind is
	// "package", "subject" or "signer").
	Complete(ctx context.Context, kind, key string, size uint64) (*api.Completeness, error)
}

// Querier answers the query over every entry and serves attestations.
type Querier interface {
	// Query runs one page; it returns the items and, if there may be more,
	// the index to continue after.
	Query(ctx context.Context, req *QueryRequest) ([]*QueryItem, *uint64, error)
	// AttestationAt returns the attestation at a log index, with its
	// statement attached unless erased.
	AttestationAt(ctx context.Context, index uint64) (e *record.Entry, erased bool, err error)
	// Statements returns the statements of the attestations among n
	// entries from an index, for auditors and mirrors.
	Statements(ctx context.Context, from uint64, n int) ([]api.StatementBody, error)
	// OffLogData returns a note's text or a profile's stored form by
	// digest, for mirrors.
	OffLogData(ctx context.Context, digest string) (*api.OffLogData, error)
	// Erasures lists what was erased after a sequence number, for mirrors.
	Erasures(ctx context.Context, after uint64, limit int) ([]api.Erasure, error)
}

// Content serves and takes release content.
type Content interface {
	// ContentStatus says whether content may be served.
	ContentStatus(ctx context.Context, digest string) (*ContentStatus, error)
	// OpenBlob opens stored content; BlobSize returns its size.
	OpenBlob(ctx context.Context, digest string) (blob.Blob, error)
	BlobSize(ctx context.Context, digest string) (int64, error)
	// PutBlob stores uploaded content, verifying its digest.
	PutBlob(ctx context.Context, digest string, body io.Reader) (int64, error)
	// MaxBlobSize is the largest content accepted.
	MaxBlobSize() int64
}

// Writer takes signed writes.
type Writer interface {
	// Submit parses and appends a POST /api/v1/entries body; signerHints
	// name keys that may have made an attestation's signatures.
	Submit(ctx context.Context, body []byte, signerHints []string) (Receipt, error)
	// MaxAttestationSize is the largest statement accepted.
	MaxAttestationSize() int64
	// Admin carries out an operator's signed request.
	Admin(ctx context.Context, body []byte) (any, error)
}

// Registry is everything the HTTP edge asks of a registry.
type Registry interface {
	LogReader
	StateReader
	Querier
	Content
	Writer
}
