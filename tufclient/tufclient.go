// Package tufclient gets a registry's trust material from its TUF repository
// (served at <registry>/tuf/, made by package tufrepo), with go-tuf's client
// updater: from one pinned root it follows root rotations, and verifies
// timestamp, snapshot, targets and every target file, refusing rollback,
// freeze (expired metadata), mix-and-match and bad signatures. What it
// returns, a Trust, gives the client library the log's key, the logs the
// current one continues, the operator keys and the witness policy.
package tufclient

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/vouchdev/vouch/cosign"
	"github.com/vouchdev/vouch/internal/atomicfile"
	"github.com/vouchdev/vouch/logchain"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/tufrepo"
)

// Trust is a registry's trust material, verified through TUF.
type Trust struct {
	// Logs is every log of the registry, the current one last, and Links
	// their verified keys and continuation checkpoints.
	Logs  *logchain.Chain
	Links []logchain.Link
	// LogKey is the current log's key.
	LogKey *translog.Verifier
	// Operators are the registry's operator keys.
	Operators *tufrepo.Operators
	// WitnessPolicy is the registry's witness policy, or nil.
	WitnessPolicy *cosign.Policy
	// SigstoreTrustedRoot is the Sigstore trusted root the registry
	// publishes, or nil.
	SigstoreTrustedRoot []byte
	// RootVersion is the version of the newest trusted root, and Expires
	// when the timestamp this trust rests on expires.
	RootVersion int64
	Expires     time.Time
}

// Config says where a registry's TUF repository is and where the client
// keeps what it trusts.
type Config struct {
	// Registry is the registry's URL; its repository is at Registry/tuf/.
	Registry string
	// Home is the client's home (client.DefaultHome()): the pinned root
	// and the trusted metadata are kept under Home/tuf/<registry>/.
	Home string
	// HTTPClient makes the requests (default: one with a 1-minute
	// timeout).
	HTTPClient *http.Client
	// Name, if set, names the directory the registry's trust is kept in,
	// instead of its URL (for a registry reachable at several URLs).
	Name string
	// Now, if set, is the reference time metadata expiry is judged by
	// (default: the current time).
	Now func() time.Time
}

func (c *Config) dir() string {
	u := strings.TrimRight(c.Registry, "/")
	if c.Name != "" {
		u = c.Name
	}
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	return filepath.Join(c.Home, "tuf", url.PathEscape(u))
}

// ErrNotPinned means no root was pinned for the registry.
var ErrNotPinned = errors.New("no TUF root is pinned for this registry")

// Pinned reports whether a root is pinned for the registry.
func Pinned(cfg Config) bool {
	_, err := os.Stat(filepath.Join(cfg.dir(), "root.json"))
	return err == nil
}

// Pin makes root (a root.json the registry's operators handed out) the
// trusted root of the registry, replacing whatever was trusted before, and
// returns the trust it leads to (Update).
func Pin(cfg Config, root []byte) (*Trust, error) {
	r, err := metadata.Root().FromBytes(root)
	if err != nil {
		return nil, fmt.Errorf("not a TUF root: %w", err)
	}
	if err := r.VerifyDelegate(metadata.ROOT, r); err != nil {
		return nil, fmt.Errorf("the root is not signed by its own root keys: %w", err)
	}
	dir := cfg.dir()
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, "root.json"), root, 0o600); err != nil {
		return nil, err
	}
	t, err := Update(cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return t, nil
}

// Update refreshes the registry's TUF metadata from the pinned root (or the
// newest root trusted since) and returns the verified trust material.
func Update(cfg Config) (*Trust, error) {
	dir := cfg.dir()
	root, err := os.ReadFile(filepath.Join(dir, "metadata", "root.json"))
	if errors.Is(err, fs.ErrNotExist) {
		root, err = os.ReadFile(filepath.Join(dir, "root.json"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%s): pin one with vouch trust init --registry %s --root ROOT.json", ErrNotPinned, cfg.Registry, cfg.Registry)
		}
	}
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.Registry, "/") + "/tuf"
	uc, err := config.New(base, root)
	if err != nil {
		return nil, err
	}
	uc.LocalMetadataDir = filepath.Join(dir, "metadata")
	uc.LocalTargetsDir = filepath.Join(dir, "targets")
	uc.RemoteTargetsURL = base + "/targets"
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	df := fetcher.NewDefaultFetcher()
	df.SetHTTPClient(hc)
	df.SetHTTPUserAgent("vouch-tuf")
	rf := &recordingFetcher{f: df, bodies: map[string][]byte{}}
	uc.Fetcher = rf
	up, err := updater.New(uc)
	if err != nil {
		return nil, fmt.Errorf("the trusted TUF root of %s: %w", cfg.Registry, err)
	}
	if cfg.Now != nil {
		up.UnsafeSetRefTime(cfg.Now().UTC())
	}
	if err := up.Refresh(); err != nil {
		return nil, explain(cfg.Registry, up, rf, err)
	}
	get := func(name string, required bool) ([]byte, error) {
		info, err := up.GetTargetInfo(name)
		if err != nil {
			if !required {
				return nil, nil
			}
			return nil, fmt.Errorf("the TUF targets of %s list no %s: %w", cfg.Registry, name, err)
		}
		if _, b, err := up.FindCachedTarget(info, ""); err == nil && b != nil {
			return b, nil
		}
		_, b, err := up.DownloadTarget(info, "", "")
		if err != nil {
			return nil, explain(cfg.Registry, up, rf, fmt.Errorf("target %s: %w", name, err))
		}
		return b, nil
	}
	t := &Trust{}
	ts := up.GetTrustedMetadataSet()
	t.RootVersion, t.Expires = ts.Root.Signed.Version, ts.Timestamp.Signed.Expires
	b, err := get(tufrepo.TargetLogs, true)
	if err != nil {
		return nil, err
	}
	if t.Logs, t.Links, err = logchain.Parse(b); err != nil {
		return nil, fmt.Errorf("the TUF target %s of %s: %w", tufrepo.TargetLogs, cfg.Registry, err)
	}
	t.LogKey = t.Links[len(t.Links)-1].Verifier
	if b, err = get(tufrepo.TargetLogVKey, false); err != nil {
		return nil, err
	} else if b != nil && strings.TrimSpace(string(b)) != t.LogKey.Key() {
		return nil, fmt.Errorf("the TUF targets of %s disagree: %s is %q, but the current log of %s is %q",
			cfg.Registry, tufrepo.TargetLogVKey, strings.TrimSpace(string(b)), tufrepo.TargetLogs, t.LogKey.Key())
	}
	if b, err = get(tufrepo.TargetOperators, false); err != nil {
		return nil, err
	} else if b != nil {
		if t.Operators, err = tufrepo.ParseOperators(b); err != nil {
			return nil, err
		}
	}
	if b, err = get(tufrepo.TargetWitnessPolicy, false); err != nil {
		return nil, err
	} else if b != nil {
		if t.WitnessPolicy, err = cosign.ParsePolicy(b); err != nil {
			return nil, fmt.Errorf("the TUF target %s of %s: %w", tufrepo.TargetWitnessPolicy, cfg.Registry, err)
		}
	}
	if t.SigstoreTrustedRoot, err = get(tufrepo.TargetSigstoreRoot, false); err != nil {
		return nil, err
	}
	return t, nil
}

// recordingFetcher keeps the last body fetched for each URL, so that a
// refusal can say what the refused metadata said (its expiry).
type recordingFetcher struct {
	f      fetcher.Fetcher
	mu     sync.Mutex
	bodies map[string][]byte
}

func (r *recordingFetcher) DownloadFile(u string, maxLength int64, timeout time.Duration) ([]byte, error) {
	b, err := r.f.DownloadFile(u, maxLength, timeout)
	if err == nil {
		r.mu.Lock()
		r.bodies[u[strings.LastIndex(u, "/")+1:]] = b
		r.mu.Unlock()
	}
	return b, err
}

// fetched returns the last body fetched for a role's metadata.
func (r *recordingFetcher) fetched(role string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best []byte
	for name, b := range r.bodies {
		if name == role+".json" || strings.HasSuffix(name, "."+role+".json") {
			best = b
		}
	}
	return best
}

// RefusedError is a TUF refusal of a registry's metadata, said plainly.
type RefusedError struct {
	Registry string
	// Kind is "expired", "rollback", "mix-and-match", "signature" or
	// "unavailable".
	Kind string
	Msg  string
	Err  error
}

func (e *RefusedError) Error() string { return e.Msg }
func (e *RefusedError) Unwrap() error { return e.Err }

// explain turns a go-tuf error into a RefusedError that names what was wrong.
func explain(registry string, up *updater.Updater, rf *recordingFetcher, err error) error {
	ts := up.GetTrustedMetadataSet()
	refused := func(kind, format string, args ...any) error {
		return &RefusedError{Registry: registry, Kind: kind, Err: err,
			Msg: fmt.Sprintf("refusing the TUF metadata of %s: ", registry) + fmt.Sprintf(format, args...)}
	}
	var (
		exp  *metadata.ErrExpiredMetadata
		ver  *metadata.ErrBadVersionNumber
		hash *metadata.ErrLengthOrHashMismatch
		uns  *metadata.ErrUnsignedMetadata
		dl   *metadata.ErrDownloadHTTP
	)
	switch {
	case errors.As(err, &exp):
		role, when := expiredRole(exp.Msg, ts, rf)
		at := ""
		if !when.IsZero() {
			at = " at " + when.UTC().Format(time.RFC3339)
		}
		hint := "the registry has not re-signed it (or something in between serves an old copy: a freeze attack)"
		if role == "root.json" || role == "targets.json" {
			hint = "its offline keys must re-sign it (vouch admin tuf sign)"
		}
		return refused("expired", "the registry's %s expired%s: %s (%v)", role, at, hint, err)
	case errors.As(err, &ver):
		return refused("rollback", "a version older than one this client already trusts was served (a rollback, or a stale cache): %v", err)
	case errors.As(err, &hash):
		return refused("mix-and-match", "a file does not match what the signed metadata says of it (mix-and-match, or a corrupted copy): %v", err)
	case errors.As(err, &uns):
		return refused("signature", "metadata not signed by the threshold of keys the trusted root names: %v", err)
	case errors.As(err, &dl):
		return refused("unavailable", "%s answered %d: does it publish a TUF repository (vouch serve --tuf-dir)? (%v)", dl.URL, dl.StatusCode, err)
	}
	return refused("unavailable", "%v", err)
}

// expiredRole names the role an expiry error is about and when it expired.
func expiredRole(msg string, ts trustedmetadata.TrustedMetadata, rf *recordingFetcher) (string, time.Time) {
	switch {
	case strings.Contains(msg, "root"):
		return "root.json", ts.Root.Signed.Expires
	case strings.Contains(msg, "timestamp"):
		if ts.Timestamp != nil {
			return "timestamp.json", ts.Timestamp.Signed.Expires
		}
		return "timestamp.json", time.Time{}
	case strings.Contains(msg, "snapshot"):
		if ts.Snapshot != nil {
			return "snapshot.json", ts.Snapshot.Signed.Expires
		}
		return "snapshot.json", time.Time{}
	case strings.Contains(msg, "targets"):
		if b := rf.fetched("targets"); b != nil {
			if t, err := metadata.Targets().FromBytes(b); err == nil {
				return "targets.json", t.Signed.Expires
			}
		}
		return "targets.json", time.Time{}
	}
	return "metadata", time.Time{}
}
