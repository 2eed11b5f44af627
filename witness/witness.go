// Package witness is a transparency-log witness, as C2SP tlog-witness
// defines one: logs submit their checkpoints to POST /add-checkpoint with a
// consistency proof from the last checkpoint the witness cosigned for them,
// and the witness checks the log's signature and the proof, records the
// new checkpoint durably, and answers with its cosignature (C2SP
// tlog-cosignature, cosignature/v1). It never cosigns two checkpoints of a
// log that are not consistent, across restarts: a log that shows two
// histories (a split view) gets one of them cosigned at most.
//
// It witnesses any log whose checkpoints follow C2SP tlog-checkpoint and
// whose key it is given (vouch witness add-log), not only Vouch logs.
//
// State lives in a directory: witness.key (its signing key), witness.vkey
// (its cosignature/v1 verifier key, for policies), and one file per log
// under logs/ holding the log's verifier key and the latest checkpoint
// cosigned for it, each written atomically and flushed to disk before the
// witness answers.
package witness

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/internal/atomicfile"
	"github.com/vouchdev/vouch/translog"
)

// File names inside a witness's directory.
const (
	KeyFile  = "witness.key"
	VKeyFile = "witness.vkey"
	LogsDir  = "logs"
)

// Witness is a running witness over a state directory.
type Witness struct {
	dir    string
	signer note.Signer
	vkey   string
	log    *slog.Logger

	mu   sync.Mutex
	logs map[string]*logState // by origin, loaded on first use
}

// logState is what the witness knows of one log. Its mutex makes checking
// a submission and recording the new checkpoint one atomic step.
type logState struct {
	mu       sync.Mutex
	path     string
	verifier note.Verifier
	rec      logRecord
}

// logRecord is a log's file: its key and the latest cosigned checkpoint.
type logRecord struct {
	Origin string `json:"origin"`
	VKey   string `json:"vkey"`
	// Size and Root describe the latest checkpoint cosigned; Checkpoint
	// is that checkpoint as submitted.
	Size       uint64 `json:"size"`
	Root       []byte `json:"root,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
}

// Init creates a witness directory with a new key named name (a URL-like
// name, e.g. witness.example.com/w1), or does nothing if one exists. It
// returns the witness's cosignature/v1 verifier key.
func Init(dir, name string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, LogsDir), 0o700); err != nil {
		return "", err
	}
	if b, err := os.ReadFile(filepath.Join(dir, VKeyFile)); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if name == "" {
		return "", errors.New("a new witness needs a name (--name), such as witness.example.com/w1")
	}
	skey, vkey, err := note.GenerateKey(nil, name)
	if err != nil {
		return "", fmt.Errorf("witness name %q: %v", name, err)
	}
	cvkey, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		return "", err
	}
	if err := atomicfile.Create(filepath.Join(dir, KeyFile), []byte(skey+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := atomicfile.Write(filepath.Join(dir, VKeyFile), []byte(cvkey+"\n"), 0o644); err != nil {
		return "", err
	}
	return cvkey, nil
}

// ImportKey creates a witness directory whose key is the note signer key
// in keyFile (an Ed25519 "PRIVATE+KEY+name+..." key, as note.GenerateKey
// writes), and returns its cosignature/v1 verifier key.
func ImportKey(dir, keyFile string) (string, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return "", err
	}
	skey := strings.TrimSpace(string(b))
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return "", fmt.Errorf("%s is not a note signer key: %v", keyFile, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, LogsDir), 0o700); err != nil {
		return "", err
	}
	if old, err := os.ReadFile(filepath.Join(dir, KeyFile)); err == nil && strings.TrimSpace(string(old)) != skey {
		return "", fmt.Errorf("%s already holds another witness key", dir)
	}
	if err := atomicfile.Write(filepath.Join(dir, KeyFile), []byte(skey+"\n"), 0o600); err != nil {
		return "", err
	}
	cvkey, err := cosignatureVKey(s.Name(), skey)
	if err != nil {
		return "", err
	}
	return cvkey, atomicfile.Write(filepath.Join(dir, VKeyFile), []byte(cvkey+"\n"), 0o644)
}

// cosignatureVKey derives the cosignature/v1 verifier key of an Ed25519
// note signer key "PRIVATE+KEY+<name>+<hash>+<base64 of 0x01 || seed>".
func cosignatureVKey(name, skey string) (string, error) {
	parts := strings.Split(skey, "+")
	if len(parts) != 5 {
		return "", errors.New("malformed signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("the witness key must be an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", err
	}
	return fnote.VKeyToCosignatureV1(vkey)
}

// Open opens a witness directory made by Init or ImportKey.
func Open(dir string, logger *slog.Logger) (*Witness, error) {
	b, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("no witness key in %s (start one with vouch witness serve --name NAME): %w", dir, err)
	}
	s, err := fnote.NewSignerForCosignatureV1(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, KeyFile), err)
	}
	vk, err := os.ReadFile(filepath.Join(dir, VKeyFile))
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Witness{dir: dir, signer: s, vkey: strings.TrimSpace(string(vk)), log: logger, logs: map[string]*logState{}}, nil
}

// VKey returns the witness's cosignature/v1 verifier key.
func (w *Witness) VKey() string { return w.vkey }

// Name returns the witness's name.
func (w *Witness) Name() string { return w.signer.Name() }

func logPath(dir, origin string) string {
	return filepath.Join(dir, LogsDir, url.PathEscape(origin)+".json")
}

// AddLog configures a log to witness: its origin and its checkpoint
// verifier key. Adding a log again with the same key does nothing; with
// another key it is refused (the witness would otherwise forget what it
// cosigned).
func AddLog(dir, origin, vkey string) error {
	if err := translog.ValidateOrigin(origin); err != nil {
		return err
	}
	if _, err := note.NewVerifier(vkey); err != nil {
		return fmt.Errorf("log key %q: %v", vkey, err)
	}
	p := logPath(dir, origin)
	if b, err := os.ReadFile(p); err == nil {
		var rec logRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("%s is corrupt: %w", p, err)
		}
		if rec.VKey != vkey {
			return fmt.Errorf("log %s is already witnessed with the key %s", origin, rec.VKey)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Join(dir, LogsDir), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(logRecord{Origin: origin, VKey: vkey}, "", "  ")
	return atomicfile.Write(p, append(b, '\n'), 0o600)
}

// state returns a log's state, loading it from its file on first use; nil
// if the log is not configured.
func (w *Witness) state(origin string) (*logState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ls, ok := w.logs[origin]; ok {
		return ls, nil
	}
	p := logPath(w.dir, origin)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ls := &logState{path: p}
	if err := json.Unmarshal(b, &ls.rec); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", p, err)
	}
	if ls.rec.Origin != origin {
		return nil, fmt.Errorf("%s is for log %q", p, ls.rec.Origin)
	}
	if ls.verifier, err = note.NewVerifier(ls.rec.VKey); err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	if ls.rec.Size > 0 && len(ls.rec.Root) != tlog.HashSize {
		return nil, fmt.Errorf("%s: a checkpoint of size %d without its root hash", p, ls.rec.Size)
	}
	w.logs[origin] = ls
	return ls, nil
}
