// Package translog holds the transparency-log mechanics Vouch builds on: signed
// checkpoints (C2SP tlog-checkpoint as signed notes), integration of new
// leaves into an RFC 6962 tree of stored hashes, proofs, tiles and entry
// bundles (C2SP tlog-tiles), and the c2sp.org/tlog-proof@v1 text format.
//
// The Merkle math is golang.org/x/mod/sumdb/tlog's; the note and checkpoint
// formats are golang.org/x/mod/sumdb/note's and transparency-dev/formats'.
package translog

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a verified (or freshly signed) checkpoint.
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   tlog.Hash
	// Index is the root of the verifiable index the checkpoint commits to
	// (its "vouch-index" extension line), or nil.
	Index []byte
	// Note is the signed note, byte for byte as served.
	Note []byte
	// Time is when the registry signed it (not part of the note).
	Time time.Time
}

// GenerateLogKey creates a new Ed25519 note signing key named origin and
// returns its private (skey) and verifier (vkey) strings.
func GenerateLogKey(origin string) (skey, vkey string, err error) {
	if err := ValidateOrigin(origin); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand.Reader, origin)
}

// ValidateOrigin checks a checkpoint origin: non-empty, printable, no spaces
// and no "+" (so it can name a note key).
func ValidateOrigin(origin string) error {
	if origin == "" || len(origin) > 255 {
		return errors.New("origin must be 1 to 255 characters")
	}
	for _, c := range origin {
		if c <= ' ' || c == '+' || c > '~' {
			return fmt.Errorf("origin %q may hold only printable ASCII without spaces or '+'", origin)
		}
	}
	return nil
}

// Sign signs a checkpoint for a tree of the given size and root hash,
// with extension lines (see IndexLine) after the root hash.
func Sign(s note.Signer, size uint64, root tlog.Hash, ext ...string) ([]byte, error) {
	body := log.Checkpoint{Origin: s.Name(), Size: size, Hash: root[:]}.Marshal()
	for _, l := range ext {
		if l == "" || strings.ContainsAny(l, "\n") {
			return nil, fmt.Errorf("checkpoint extension line %q is empty or holds a newline", l)
		}
		body = append(append(body, l...), '\n')
	}
	return note.Sign(&note.Note{Text: string(body)}, s)
}

// indexPrefix begins the extension line by which a checkpoint commits to
// the root of the registry's verifiable index. Standard tlog clients and
// witnesses ignore extension lines; witnesses cosign them with the rest.
const indexPrefix = "vouch-index "

// IndexLine returns the checkpoint extension line that commits to a
// verifiable index root.
func IndexLine(root [32]byte) string {
	return indexPrefix + base64.StdEncoding.EncodeToString(root[:])
}

// parseExtensions reads the extension lines of a checkpoint body (after
// its root hash): the index root, if any. Unknown lines are ignored, as
// C2SP tlog-checkpoint asks.
func parseExtensions(rest []byte) (index []byte, err error) {
	for _, l := range strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n") {
		v, ok := strings.CutPrefix(l, indexPrefix)
		if !ok {
			continue
		}
		if index != nil {
			return nil, errors.New("checkpoint: two index lines")
		}
		index, err = base64.StdEncoding.DecodeString(v)
		if err != nil || len(index) != 32 {
			return nil, errors.New("checkpoint: the index line does not hold a 32-byte base64 root")
		}
	}
	return index, nil
}

// Verifier checks checkpoints of one log.
type Verifier struct {
	v    note.Verifier
	vkey string
}

// NewVerifier parses a note verifier key ("origin+hash+key") as found in
// <data>/log.vkey. The key's name is the log's origin.
func NewVerifier(vkey string) (*Verifier, error) {
	vkey = strings.TrimSpace(vkey)
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("log key %q: %v", vkey, err)
	}
	return &Verifier{v: v, vkey: vkey}, nil
}

// LoadVerifier reads a verifier key given either literally or as the path of
// a file holding one.
func LoadVerifier(s string) (*Verifier, error) {
	if !strings.Contains(s, "+") {
		b, err := os.ReadFile(s)
		if err != nil {
			return nil, fmt.Errorf("log key: %q is neither a verifier key nor a readable file: %v", s, err)
		}
		s = string(b)
	}
	return NewVerifier(s)
}

// Origin returns the log's origin (the key's name).
func (v *Verifier) Origin() string { return v.v.Name() }

// Key returns the verifier key string.
func (v *Verifier) Key() string { return v.vkey }

// Note returns the underlying note verifier.
func (v *Verifier) Note() note.Verifier { return v.v }

// Open verifies a checkpoint's signature and parses it.
func (v *Verifier) Open(b []byte) (*Checkpoint, error) {
	cp, rest, _, err := log.ParseCheckpoint(b, v.v.Name(), v.v)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %v", err)
	}
	if len(cp.Hash) != tlog.HashSize {
		return nil, fmt.Errorf("checkpoint: root hash is %d bytes", len(cp.Hash))
	}
	index, err := parseExtensions(rest)
	if err != nil {
		return nil, err
	}
	out := &Checkpoint{Origin: cp.Origin, Size: cp.Size, Note: b, Index: index}
	copy(out.Hash[:], cp.Hash)
	return out, nil
}

// LooksLikeCheckpoint reports whether b has the shape of a signed
// checkpoint (origin, size, root hash, a blank line, signature lines),
// whoever signed it: to tell a log signed by another key from something
// that is not a log at all.
func LooksLikeCheckpoint(b []byte) bool {
	text, sigs, ok := strings.Cut(string(b), "\n\n")
	if !ok || !strings.HasPrefix(sigs, "— ") {
		return false
	}
	lines := strings.Split(text, "\n")
	if len(lines) < 3 || lines[0] == "" {
		return false
	}
	if _, err := strconv.ParseUint(lines[1], 10, 64); err != nil {
		return false
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	return err == nil && len(h) == tlog.HashSize
}

// NewSigner parses a note signer key ("PRIVATE+KEY+origin+...").
func NewSigner(skey string) (note.Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, errors.New("log signing key is malformed")
	}
	return s, nil
}
