package record

import (
	"github.com/vouchdev/vouch/translog"
)

// TypeContinue is an operator record that starts a log continuing another
// one: the registry rotated its log key, and the new log (under a new
// origin, with the same Merkle tree) names the old log's key (logKey) and
// the last checkpoint that key signed (checkpoint), which the new log
// extends. See docs/trust.md.
const TypeContinue = "continue"

func init() {
	rules[TypeContinue] = fieldRule{ChainOperator, []string{"prev", "checkpoint", "logKey"}, nil}
}

// maxCheckpoint bounds a continue record's checkpoint note (a checkpoint
// with a few dozen cosignatures).
const maxCheckpoint = 8 << 10

// validateContinue checks the fields of a continue record: logKey is a note
// verifier key and checkpoint a checkpoint it signed.
func (r *Record) validateContinue() error {
	if r.Checkpoint == "" && r.LogKey == "" {
		return nil
	}
	_, err := r.ContinuedCheckpoint()
	return err
}

// ContinuedCheckpoint returns the checkpoint of a continue record, verified
// with the record's logKey.
func (r *Record) ContinuedCheckpoint() (*translog.Checkpoint, error) {
	if len(r.Checkpoint) > maxCheckpoint {
		return nil, syntaxf("%s record: checkpoint is larger than %d bytes", r.Type, maxCheckpoint)
	}
	v, err := translog.NewVerifier(r.LogKey)
	if err != nil {
		return nil, syntaxf("%s record: logKey: %v", r.Type, err)
	}
	cp, err := v.Open([]byte(r.Checkpoint))
	if err != nil {
		return nil, syntaxf("%s record: checkpoint: not a checkpoint signed by logKey: %v", r.Type, err)
	}
	return cp, nil
}
