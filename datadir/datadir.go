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

	"github.com/gofrs/flock"
	"golang.org/x/mod/sumdb/note"

	"github.com/vouchdev/vouch/keys"
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
	lockFile        = "LOCK"
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
	lock        *flock.Flock
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
	if err := d.loadConfig(o.Origin); err != nil {
		return nil, err
	}
	if err := d.loadLogKey(); err != nil {
		return nil, err
	}
	if err := d.loadOperatorKey(o.OperatorKeyFile); err != nil {
		return nil, err
	}
	ok = true
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
		return writeFile(d.file(ConfigFile), append(b, '\n'), 0o644)
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
		if err := writeFile(d.file(LogKeyFile), []byte(skey+"\n"), 0o600); err != nil {
			return err
		}
		if err := writeFile(d.file(LogVKeyFile), []byte(vkey+"\n"), 0o644); err != nil {
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

// writeFile writes data to path atomically (temporary file, fsync, rename).
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
