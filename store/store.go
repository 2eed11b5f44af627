// Package store defines the registry's database interface. One store holds
// the log's entries and tree hashes, its checkpoints, the state of every
// identity, package and release at every tree size, the query index, and
// the off-log data (notes, profiles). Writes happen in transactions that
// cover the entry and everything derived from it, so the index never drifts
// from the log.
//
// The embedded implementation (SQLite) and the scale-out one (PostgreSQL)
// live in store/sqlstore.
package store

import (
	"context"
	"errors"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/translog"
)

// ErrNotFound is returned for an entry, checkpoint or object that does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by Integrate when another integrator moved the
// tree on in the meantime.
var ErrConflict = errors.New("the log moved on concurrently")

// Head describes how far the log has got.
type Head struct {
	// Sequenced is the number of entries stored (the next index).
	Sequenced uint64
	// LastTime is the log time of the newest entry.
	LastTime time.Time
}

// EntryRow is an entry as stored, with the fields the query index holds.
type EntryRow struct {
	Index         uint64
	Leaf          []byte
	Time          time.Time
	Kind          string
	Type          string
	Package       string
	Version       string
	PredicateType string
	PayloadDigest string
	Signers       []string
	Subjects      []string
	// Statement is an attestation's statement, kept off the log (in its
	// own erasable table, keyed by the entry's index).
	Statement []byte
	// Keyless is a keyless attestation's off-log data, kept and erased
	// with its statement.
	Keyless *Keyless
}

// Keyless is what a keyless attestation (a Sigstore bundle signed with a
// short-lived certificate) keeps off the log besides its statement: the
// bundle as submitted, and the signer identity its certificate names (JSON,
// see api.CertIdentity), indexed by issuer and subject. All of it is
// personal data, erased with the statement.
type Keyless struct {
	Bundle   []byte
	Identity []byte
	Issuer   string
	Subject  string
}

// IdentityFilter selects keyless attestations by their signer: Issuer
// exactly (empty: any), and Subject exactly, or, with Pattern, as a pattern
// where "*" stands for any run of characters (and nothing else is special).
type IdentityFilter struct {
	Issuer  string
	Subject string
	Pattern bool
}

// SubjectRef is an entry that names a content digest.
type SubjectRef struct {
	Index         uint64
	Type          string
	PayloadDigest string
}

// KV is a state object: a key and its JSON value. A nil value means the
// object is unchanged; state is never deleted, only superseded.
type KV struct {
	Key   string
	Value []byte
}

// OffLog is data kept beside the log (a note's text, an identity profile,
// an attestation body's metadata), addressed by digest, erasable.
type OffLog struct {
	Digest string
	Kind   string
	Data   []byte
}

// CheckpointRow is a stored checkpoint.
type CheckpointRow struct {
	Size uint64
	Time time.Time
	Note []byte
	Root tlog.Hash
}

// BuildCheckpoint computes the tree hashes to store and the checkpoint that
// covers them, for Integrate.
type BuildCheckpoint func() ([]translog.StoredHash, *CheckpointRow, error)

// SeqTx is the transaction in which new entries are sequenced. It holds the
// log's sequencing lock: no other SeqTx, in this process or another, runs
// at the same time.
type SeqTx interface {
	// Head returns the log head as of the start of the transaction, plus the
	// entries appended so far in it.
	Head() Head
	// Get returns the latest value of a state object, or nil.
	Get(key string) ([]byte, error)
	// GetMany returns the latest values of several state objects in one
	// query; absent objects are absent from the map.
	GetMany(keys []string) (map[string][]byte, error)
	// Append stores e at index Head().Sequenced, the state objects it
	// changed and its off-log data.
	Append(e *EntryRow, changes []KV, off []OffLog) error
	// Subjects lists the entries that name each of the content digests
	// (release records and attestations), in one query.
	Subjects(digests []string) (map[string][]SubjectRef, error)
	// Signers returns the key IDs that signed entry idx.
	Signers(idx uint64) ([]string, error)
	// Integrate stores tree hashes and a checkpoint in the same
	// transaction (see Store.Integrate).
	Integrate(oldSize uint64, build BuildCheckpoint) error
	// IndexNodes returns node versions of the verifiable index by key;
	// absent ones are absent. Unlike the other methods, it may be called
	// from another goroutine at any time until the transaction ends (the
	// registry reads a batch's index paths while it decides the batch):
	// its statements take turns with the others'.
	IndexNodes(keys [][]byte) (map[string][]byte, error)
	// IndexHead returns the largest tree size the index has a version
	// at, or ok=false if it has none.
	IndexHead() (size uint64, ok bool, err error)
	// PutIndex stores the index node versions written for tree size
	// size, and the index's root at that size.
	PutIndex(size uint64, nodes []IndexNode, root []byte) error
	// Flush writes what the transaction buffered so far (it may buffer
	// rows until it commits), so that the caller can do other work
	// meanwhile: Get and GetMany (and IndexNodes, always) may be called
	// from another goroutine while Flush runs, and only those.
	Flush() error
}

// IndexNode is a node version of the verifiable index, under its key (see
// vindex.Key).
type IndexNode struct {
	Key, Node []byte
}

// Log is the storage of the log itself: entries, tree hashes, and who
// integrates them. Writes happen only through Sequence and Integrate.
type Log interface {
	// Sequence runs fn in a sequencing transaction and commits it if fn
	// returns nil. The commit is durable when Sequence returns.
	Sequence(ctx context.Context, fn func(SeqTx) error) error
	// Head returns the log head.
	Head(ctx context.Context) (Head, error)
	// Leaves returns the leaves of entries [from, to).
	Leaves(ctx context.Context, from, to uint64) ([][]byte, error)
	// Entry returns one entry.
	Entry(ctx context.Context, index uint64) (*EntryRow, error)
	// ReadHashes returns the stored tree hashes at the given stored-hash
	// indexes (see tlog.StoredHashIndex).
	ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// Integrate stores the hashes of newly integrated entries and the
	// checkpoint that covers them, in one transaction, provided the latest
	// checkpoint is still of size oldSize; otherwise it returns
	// ErrConflict without calling build. build computes (and signs) what to
	// store, inside the transaction, so that no two checkpoints are ever
	// signed for the same old size at once.
	Integrate(ctx context.Context, oldSize uint64, build BuildCheckpoint) error
	// Exclusive reports whether this process is the only writer of the
	// store (SQLite: the data directory is locked), so that it may cache
	// the latest state and integrate as it sequences.
	Exclusive() bool
	// LeadIntegration tries to become the log's single integrator. It
	// returns ok=false if another process leads.
	LeadIntegration(ctx context.Context) (lease Lease, ok bool, err error)
}

// Checkpoints reads the checkpoints Integrate stored.
type Checkpoints interface {
	// LatestCheckpoint returns the newest checkpoint, or ErrNotFound.
	LatestCheckpoint(ctx context.Context) (*CheckpointRow, error)
	// Checkpoints lists stored checkpoints with size >= from, oldest first,
	// at most limit.
	Checkpoints(ctx context.Context, from uint64, limit int) ([]*CheckpointRow, error)
	// CheckpointCovering returns the first checkpoint whose tree contains
	// entry index, or ErrNotFound.
	CheckpointCovering(ctx context.Context, index uint64) (*CheckpointRow, error)
	// SaveWitnessed records a checkpoint that met the witness policy's
	// quorum (Note holds the cosignatures too), unless a larger one is
	// recorded already. Replicas share it.
	SaveWitnessed(ctx context.Context, cp *CheckpointRow) error
	// LatestWitnessed returns the largest witnessed checkpoint, or
	// ErrNotFound.
	LatestWitnessed(ctx context.Context) (*CheckpointRow, error)
}

// IndexTree reads the verifiable index (package vindex): its node
// versions, and its root at every tree size it has a version at.
type IndexTree interface {
	// IndexNodes returns node versions by key (see vindex.Key); absent
	// ones are absent.
	IndexNodes(ctx context.Context, keys [][]byte) (map[string][]byte, error)
	// IndexRoot returns the index's root at tree size size, or
	// ErrNotFound if no version was written at exactly that size.
	IndexRoot(ctx context.Context, size uint64) ([]byte, error)
	// LatestIndexRoot returns the largest tree size with an index root at
	// or before size, and that root; ErrNotFound if there is none.
	LatestIndexRoot(ctx context.Context, size uint64) (uint64, []byte, error)
}

// State reads state objects as of any tree size.
type State interface {
	// Get returns the value of a state object as of tree size size (the
	// state after entries [0, size)), or nil if it did not exist then.
	Get(ctx context.Context, key string, size uint64) ([]byte, error)
	// Scan returns the state objects whose keys start with prefix and sort
	// after after, as of tree size size, in key order, at most limit.
	Scan(ctx context.Context, prefix string, size uint64, after string, limit int) ([]KV, error)
}

// Index answers queries over the entries.
type Index interface {
	// Query returns the entries matching q, in index order (descending if
	// q.Desc), at most q.Limit.
	Query(ctx context.Context, q *Query) ([]*EntryRow, error)
	// SizeAt returns the number of entries whose log time is at or before t.
	SizeAt(ctx context.Context, t time.Time) (uint64, error)
}

// Erasable holds what is kept beside the log, where it can be erased for
// good: notes, profiles, attestation statements, and the record of
// requests already carried out.
type Erasable interface {
	// OffLog returns off-log data by digest, or ErrNotFound.
	OffLog(ctx context.Context, digest string) (*OffLog, error)
	// DeleteOffLog erases off-log data for good.
	DeleteOffLog(ctx context.Context, digests []string) error
	// Statements returns the statements stored for entries [from, to),
	// by index; erased ones are absent.
	Statements(ctx context.Context, from, to uint64) (map[uint64][]byte, error)
	// StatementsOf returns the statements of the given entries, by index;
	// erased ones are absent.
	StatementsOf(ctx context.Context, idxs []uint64) (map[uint64][]byte, error)
	// KeylessOf returns the keyless data of the given entries, by index;
	// entries that have none, or whose data was erased, are absent.
	// Without bundles, the Bundle fields are left nil.
	KeylessOf(ctx context.Context, idxs []uint64, bundles bool) (map[uint64]*Keyless, error)
	// DeleteStatements erases attestation statements, and the keyless
	// data of the same entries, for good.
	DeleteStatements(ctx context.Context, idxs []uint64) error
	// Compact rewrites the database so that no trace of deleted data
	// remains in its files (SQLite: VACUUM and a truncating WAL checkpoint).
	Compact(ctx context.Context) error
	// UseOnce records that the request with the given digest, made at t, was
	// carried out. It reports false if it was recorded before (a replay).
	// Records older than forget are dropped on the way.
	UseOnce(ctx context.Context, digest string, t time.Time, forget time.Duration) (bool, error)
}

// Erasures is the record of what was erased, without the erased data: the
// indexes of erased statements and the digests of erased off-log data, in
// order, so that mirrors erase the same.
type Erasures interface {
	// RecordErasure appends an erasure to the record.
	RecordErasure(ctx context.Context, e *Erasure) error
	// Erasures lists the erasures recorded after sequence number after,
	// oldest first, at most limit.
	Erasures(ctx context.Context, after uint64, limit int) ([]*Erasure, error)
}

// Erasure is one erasure: what it removed, never the data itself.
type Erasure struct {
	// Seq numbers erasures in the order they were recorded (from 1); set
	// by RecordErasure.
	Seq        uint64
	Time       time.Time
	Statements []uint64
	OffLog     []string
}

// Store is a whole database: every role, in one transactional store.
type Store interface {
	Log
	Checkpoints
	State
	Index
	IndexTree
	Erasable
	Erasures
	// Close releases the store.
	Close() error
}

// Query selects entries through the index. Zero fields do not filter.
type Query struct {
	// Size limits the query to entries [0, Size): the log as of that tree size.
	Size uint64
	// From and To select indexes [From, To) (To = 0: no upper bound).
	From, To uint64
	// After, if set, continues a descending query below it or an
	// ascending one above it (cursor pagination).
	After         *uint64
	Package       string
	Version       string
	Subject       string
	Signer        string
	PredicateType string
	Kind          string
	Type          string
	// Identity selects keyless attestations by signer (nil: no filter).
	Identity *IdentityFilter
	// Since and Until select log times [Since, Until).
	Since, Until time.Time
	Desc         bool
	Limit        int
}

// Lease is the integrator role, held until released or lost.
type Lease interface {
	// Alive reports whether the role is still held (a lost database
	// connection loses it).
	Alive(ctx context.Context) bool
	// Release gives the role up.
	Release()
}
