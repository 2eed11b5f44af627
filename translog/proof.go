package translog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// ProofHeader is the first line of a c2sp.org/tlog-proof@v1 proof.
const ProofHeader = "c2sp.org/tlog-proof@v1"

// FormatProof writes an inclusion proof of entry index in the tree the
// checkpoint describes, in the c2sp.org/tlog-proof@v1 text format.
func FormatProof(index uint64, proof tlog.RecordProof, checkpoint []byte) []byte {
	var b bytes.Buffer
	b.WriteString(ProofHeader + "\n")
	b.WriteString("index " + strconv.FormatUint(index, 10) + "\n")
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(checkpoint)
	return b.Bytes()
}

// Proof is a parsed c2sp.org/tlog-proof@v1 proof.
type Proof struct {
	Extra      []byte
	Index      uint64
	Hashes     tlog.RecordProof
	Checkpoint []byte
}

// ParseProof parses the c2sp.org/tlog-proof@v1 text format. The checkpoint
// is not verified.
func ParseProof(b []byte) (*Proof, error) {
	head, cp, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return nil, errors.New("tlog-proof: no blank line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != ProofHeader {
		return nil, fmt.Errorf("tlog-proof: first line is not %q", ProofHeader)
	}
	lines = lines[1:]
	p := &Proof{Checkpoint: cp}
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		x, err := base64.StdEncoding.DecodeString(lines[0][len("extra "):])
		if err != nil {
			return nil, errors.New("tlog-proof: extra is not base64")
		}
		p.Extra, lines = x, lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return nil, errors.New("tlog-proof: missing index line")
	}
	s := lines[0][len("index "):]
	idx, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(idx, 10) != s {
		return nil, fmt.Errorf("tlog-proof: bad index %q", s)
	}
	p.Index = idx
	for _, l := range lines[1:] {
		raw, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("tlog-proof: bad hash line %q", l)
		}
		var h tlog.Hash
		copy(h[:], raw)
		p.Hashes = append(p.Hashes, h)
	}
	return p, nil
}

// VerifyInclusion checks that leaf (the entry's bytes) is entry index of the
// tree described by cp, given the proof hashes.
func VerifyInclusion(cp *Checkpoint, index uint64, leaf []byte, proof tlog.RecordProof) error {
	if index >= cp.Size {
		return fmt.Errorf("entry %d is not in a tree of size %d", index, cp.Size)
	}
	if err := tlog.CheckRecord(proof, int64(cp.Size), cp.Hash, int64(index), tlog.RecordHash(leaf)); err != nil {
		return fmt.Errorf("inclusion proof of entry %d in tree %d: %v", index, cp.Size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of checkpoint newer extends the tree
// of checkpoint older.
func VerifyConsistency(older, newer *Checkpoint, proof tlog.TreeProof) error {
	if older.Size > newer.Size {
		return fmt.Errorf("checkpoint of size %d is older than the one held (size %d)", newer.Size, older.Size)
	}
	if older.Size == newer.Size {
		if older.Hash != newer.Hash {
			return fmt.Errorf("two checkpoints of size %d with different roots: the log has forked", older.Size)
		}
		return nil
	}
	if older.Size == 0 {
		return nil
	}
	if err := tlog.CheckTree(proof, int64(newer.Size), newer.Hash, int64(older.Size), older.Hash); err != nil {
		return fmt.Errorf("tree %d is not consistent with tree %d: %v", newer.Size, older.Size, err)
	}
	return nil
}
