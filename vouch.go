package vouch

import (
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/translog"
)

// Entry is a log entry with an inclusion proof.
type Entry struct {
	Index uint64
	// Leaf is the entry's bytes in the log, and Time its log time.
	Leaf []byte
	Time time.Time
	// Integrated is the first checkpoint that covered it.
	Integrated *translog.Checkpoint
	// TreeSize is the tree the proof is for, and Checkpoint its
	// checkpoint if one was signed at exactly that size.
	TreeSize   uint64
	Proof      tlog.RecordProof
	Checkpoint *translog.Checkpoint
}
