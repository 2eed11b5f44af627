// Package datadir manages a registry's data directory: it creates it on
// first start with the log signing key, the log's verifier key (log.vkey),
// the operator key and the configuration, and locks it so that only one
// process serves it.
package datadir

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/mod/sumdb/note"

	"github.com/vouchdev/vouch/internal/atomicfile"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/logchain"
	"github.com/vouchdev/vouch/translog"
)

// File names inside a data directory.
const (
	ConfigFile      = "config.json"
	LogKeyFile      = "log.key"
	LogVKeyFile     = "log.vkey"
	OperatorKeyFile = "operator.key"
	DatabaseFile    = "vouch.db"
	BlobDir         = "blobs"
	// GuardFile remembers the newest checkpoint the log key signed, so
	// that a lost or replaced database cannot fork the log (see
	// translog.Guard).
	GuardFile = "signed-checkpoint.json"
	lockFile  = "LOCK"
)

// Config is the persistent configuration of a data directory.
type Config struct {
	Origin string `json:"origin"`
}

// Dir is an open, locked data directory.
type Dir struct {
	Path        string
	Config      Config
	LogSigner   note.Signer
	LogVKey     string
	OperatorKey *keys.PrivateKey
	// Logs is every log this directory signed, the current last.
	Logs  *logchain.Chain
	links []logchain.Link
	lock  *flock.Flock
}

// Options says how to open a data directory.
type Options struct {
	// Origin is the checkpoint origin for a new directory. An existing
	// directory keeps its origin; asking for a different one is an error.
	Origin string
	// OperatorKeyFile, if set, is the operator's private key; otherwise the
	// directory's own operator.key is used (and created on first start).
	OperatorKeyFile string
	// NoLock skips locking: for tools that only read, and for replicas that
	// share no directory.
	NoLock bool
	// NewLog starts a new log under Origin, which must differ from the
	// directory's: the old log key, its verifier key and the signer's
	// record of the newest checkpoint are kept aside under names ending in
	// ".retired-<time>", and a new log key is made. This is the explicit
	// step an operator takes when a log's database is lost for good; the
	// new log needs an empty database.
	NewLog bool
}

// DefaultOrigin returns a fresh origin for a new registry.
func DefaultOrigin() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "localhost/vouch/" + hex.EncodeToString(b)
}

// Open opens (creating on first use) the data directory at path.
func Open(path string, o Options) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	d := &Dir{Path: path}
	if !o.NoLock {
		if err := d.lockDir(); err != nil {
			return nil, err
		}
	}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	if o.NewLog {
		if err := d.retireLog(o.Origin); err != nil {
			return nil, err
		}
	}
	if err := d.loadConfig(o.Origin); err != nil {
		return nil, err
	}
	if err := d.loadLogKey(); err != nil {
		return nil, err
	}
	if err := d.loadLogs(); err != nil {
		return nil, err
	}
	if err := d.loadOperatorKey(o.OperatorKeyFile); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

// MirrorStateFile keeps a mirror's place in its upstream (see package
// mirror).
const MirrorStateFile = "mirror.json"

// OpenMirror opens (creating on first use) a mirror's data directory: a
// mirror keeps its database and content there, but no keys: it signs
// nothing.
func OpenMirror(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	d := &Dir{Path: path}
	if err := d.lockDir(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(d.file(LogKeyFile)); err == nil {
		d.Close()
		return nil, fmt.Errorf("%s holds a registry's own log key: a mirror needs a directory of its own", path)
	}
	return d, nil
}

func (d *Dir) file(name string) string { return filepath.Join(d.Path, name) }

func (d *Dir) lockDir() error {
	l := flock.New(d.file(lockFile))
	ok, err := l.TryLock()
	if err != nil {
		return fmt.Errorf("locking data directory %s: %w", d.Path, err)
	}
	if !ok {
		return fmt.Errorf("data directory %s is in use by another vouch process", d.Path)
	}
	d.lock = l
	return nil
}

// Close unlocks the directory.
func (d *Dir) Close() error {
	if d.lock != nil {
		err := d.lock.Close()
		d.lock = nil
		return err
	}
	return nil
}

// retireLog keeps the current log's keys and guard aside and writes a
// configuration for a new log under origin.
func (d *Dir) retireLog(origin string) error {
	if origin == "" {
		return errors.New("a new log needs a new origin (--origin)")
	}
	if err := translog.ValidateOrigin(origin); err != nil {
		return err
	}
	var old Config
	if b, err := os.ReadFile(d.file(ConfigFile)); err == nil {
		if err := json.Unmarshal(b, &old); err != nil {
			return fmt.Errorf("%s: %w", d.file(ConfigFile), err)
		}
	}
	if old.Origin == origin {
		return fmt.Errorf("the new log needs an origin other than the old one (%q)", origin)
	}
	suffix := ".retired-" + time.Now().UTC().Format("20060102T150405Z")
	for _, f := range []string{LogKeyFile, LogVKeyFile, GuardFile} {
		if err := os.Rename(d.file(f), d.file(f+suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	b, _ := json.MarshalIndent(Config{Origin: origin}, "", "  ")
	return atomicfile.Write(d.file(ConfigFile), append(b, '\n'), 0o644)
}

// OpenGuard opens the record of the newest checkpoint this directory's log
// key signed.
func (d *Dir) OpenGuard() (*translog.Guard, error) {
	v, err := translog.NewVerifier(d.LogVKey)
	if err != nil {
		return nil, err
	}
	return translog.OpenGuard(d.file(GuardFile), v.Note())
}

func (d *Dir) loadConfig(origin string) error {
	b, err := os.ReadFile(d.file(ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		if origin == "" {
			origin = DefaultOrigin()
		}
		if err := translog.ValidateOrigin(origin); err != nil {
			return err
		}
		d.Config = Config{Origin: origin}
		b, _ := json.MarshalIndent(d.Config, "", "  ")
		return atomicfile.Write(d.file(ConfigFile), append(b, '\n'), 0o644)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &d.Config); err != nil {
		return fmt.Errorf("%s: %w", d.file(ConfigFile), err)
	}
	if origin != "" && origin != d.Config.Origin {
		return fmt.Errorf("this registry's origin is %q; it cannot change to %q (the origin names the log)", d.Config.Origin, origin)
	}
	return nil
}

func (d *Dir) loadLogKey() error {
	b, err := os.ReadFile(d.file(LogKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		skey, vkey, err := translog.GenerateLogKey(d.Config.Origin)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(d.file(LogKeyFile), []byte(skey+"\n"), 0o600); err != nil {
			return err
		}
		if err := atomicfile.Write(d.file(LogVKeyFile), []byte(vkey+"\n"), 0o644); err != nil {
			return err
		}
		b = []byte(skey)
	} else if err != nil {
		return err
	}
	s, err := translog.NewSigner(string(b))
	if err != nil {
		return fmt.Errorf("%s: %w", d.file(LogKeyFile), err)
	}
	if s.Name() != d.Config.Origin {
		return fmt.Errorf("%s signs for origin %q but the registry's origin is %q", d.file(LogKeyFile), s.Name(), d.Config.Origin)
	}
	d.LogSigner = s
	vk, err := os.ReadFile(d.file(LogVKeyFile))
	if err != nil {
		return fmt.Errorf("reading the log's verifier key: %w", err)
	}
	d.LogVKey = strings.TrimSpace(string(vk))
	return nil
}

func (d *Dir) loadOperatorKey(path string) error {
	if path == "" {
		path = d.file(OperatorKeyFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			k, err := keys.Generate(keys.Ed25519)
			if err != nil {
				return err
			}
			if err := keys.WriteFiles(path, k); err != nil {
				return err
			}
		}
	}
	k, err := keys.LoadPrivate(path)
	if err != nil {
		return fmt.Errorf("operator key: %w", err)
	}
	d.OperatorKey = k
	return nil
}
