package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/translog"
)

// MaxImportProof is the most hashes an import's inclusion proof may hold.
const MaxImportProof = 63

// ImportRef is what the log holds about an entry imported from another
// registry's log, when a package moves: the source log's origin and
// verifier key, a checkpoint of it, the entry's index and leaf there, and
// the inclusion proof of the leaf in that checkpoint. Anyone can check it
// with the source log's key alone.
type ImportRef struct {
	Origin     string   `json:"origin"`
	VKey       string   `json:"vkey"`
	Checkpoint []byte   `json:"checkpoint"`
	Index      uint64   `json:"index"`
	Leaf       []byte   `json:"leaf"`
	Proof      [][]byte `json:"proof"`
}

// SourceCheckpoint verifies the import's checkpoint with its key, and
// returns it.
func (ref *ImportRef) SourceCheckpoint() (*log.Checkpoint, error) {
	v, err := note.NewVerifier(ref.VKey)
	if err != nil {
		return nil, syntaxf("import: vkey: %v", err)
	}
	if v.Name() != ref.Origin {
		return nil, syntaxf("import: the key is %q's, not the source log %q's", v.Name(), ref.Origin)
	}
	cp, _, _, err := log.ParseCheckpoint(ref.Checkpoint, ref.Origin, v)
	if err != nil {
		return nil, &SignatureError{KeyID: ref.VKey}
	}
	return cp, nil
}

// Verify checks that the imported leaf is entry Index of the source log
// as the checkpoint, signed by the source log's key, commits to.
func (ref *ImportRef) Verify() error {
	cp, err := ref.SourceCheckpoint()
	if err != nil {
		return err
	}
	if len(cp.Hash) != tlog.HashSize {
		return syntaxf("import: the checkpoint's root hash is %d bytes", len(cp.Hash))
	}
	if ref.Index >= cp.Size {
		return syntaxf("import: entry %d is not in the source checkpoint of size %d", ref.Index, cp.Size)
	}
	proof := make(tlog.RecordProof, len(ref.Proof))
	for i, h := range ref.Proof {
		proof[i] = tlog.Hash(h)
	}
	if err := tlog.CheckRecord(proof, int64(cp.Size), tlog.Hash(cp.Hash), int64(ref.Index), tlog.RecordHash(ref.Leaf)); err != nil {
		return syntaxf("import: the inclusion proof of entry %d in %s's checkpoint of size %d does not verify", ref.Index, ref.Origin, cp.Size)
	}
	return nil
}

// validate checks an import's fields on their own.
func (ref *ImportRef) validate() error {
	if err := translog.ValidateOrigin(ref.Origin); err != nil {
		return syntaxf("import: origin: %v", err)
	}
	if len(ref.Checkpoint) == 0 || len(ref.Checkpoint) > 8<<10 {
		return syntaxf("import: the checkpoint must be 1 to 8 KiB")
	}
	if len(ref.Proof) > MaxImportProof {
		return syntaxf("import: more than %d proof hashes", MaxImportProof)
	}
	for _, h := range ref.Proof {
		if len(h) != tlog.HashSize {
			return syntaxf("import: a proof hash is %d bytes", len(h))
		}
	}
	if strings.Contains(string(ref.Leaf), `"import"`) {
		// An import of an import would need the proofs of two logs; a
		// package moves on from the registry that holds its records.
		if e, err := ParseLeaf(ref.Leaf); err == nil && e.Import != nil {
			return syntaxf("import: entry %d of %s is itself an import; import it from the log that holds it", ref.Index, ref.Origin)
		}
	}
	return nil
}

// NewImportEntry builds the entry that imports a source log's entry. For
// an attestation, statement is its statement (nil if the source erased
// it); its signatures are checked by Verify like any attestation's.
func NewImportEntry(ref *ImportRef, statement []byte) (*Entry, error) {
	if err := ref.validate(); err != nil {
		return nil, err
	}
	inner, err := ParseLeaf(ref.Leaf)
	if err != nil {
		return nil, syntaxf("import: the source entry: %v", err)
	}
	if inner.Attestation != nil && statement != nil {
		if err := inner.AttachBody(statement); err != nil {
			return nil, err
		}
	}
	e := &Entry{Import: ref, Inner: inner}
	if e.Inner.Attestation != nil {
		e.Payload = statement
	}
	if err := checkLeafFits(e); err != nil {
		return nil, err
	}
	return e, nil
}

// parseImportLeaf completes ParseLeaf for an import leaf.
func parseImportLeaf(l *Leaf, b []byte) (*Entry, error) {
	if err := l.Import.validate(); err != nil {
		return nil, err
	}
	inner, err := ParseLeaf(l.Import.Leaf)
	if err != nil {
		return nil, syntaxf("import: the source entry: %v", err)
	}
	e := &Entry{Import: l.Import, Inner: inner}
	t, _ := parseLeafTime(l.Time)
	nb, err := e.Leaf(t)
	if err != nil || !bytes.Equal(nb, b) {
		return nil, syntaxf("leaf is not in canonical form")
	}
	return e, nil
}

// importLeaf encodes an import entry's leaf.
func importLeaf(t string, ref *ImportRef) ([]byte, error) {
	b, err := json.Marshal(Leaf{V: LeafVersion, Time: t, Import: ref})
	if err != nil {
		return nil, err
	}
	if len(b) > MaxLeafSize {
		return nil, &TooLargeError{Size: len(b)}
	}
	return b, nil
}

// String describes an import for messages.
func (ref *ImportRef) String() string {
	return fmt.Sprintf("entry %d of %s", ref.Index, ref.Origin)
}
