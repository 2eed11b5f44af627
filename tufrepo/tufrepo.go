// Package tufrepo makes, signs and publishes a registry's TUF repository
// (The Update Framework, with theupdateframework/go-tuf/v2's metadata): the
// trust material clients bootstrap from one pinned root and follow through
// key rotations. See docs/trust.md.
//
// A repository directory holds
//
//	keys/         private keys, PEM: root-N.key and targets-N.key are offline
//	              keys (kept on the operators' machines), online.key signs
//	              snapshot and timestamp (kept by the server)
//	targets/      the target files as the operators edit them (log.vkey,
//	              logs.json, operators.json, witness.policy, ...)
//	repository/   what is published at /tuf/: N.root.json, N.targets.json,
//	              N.snapshot.json, timestamp.json, and targets/<sha256>.<name>
//
// Which key serves which role is read from the newest root: any key file in
// keys/ whose TUF key ID a role lists signs for that role, so a machine
// signs for exactly the roles whose keys it holds. The repository uses
// consistent snapshots: every version of every file stays, by name.
package tufrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vouchdev/vouch/internal/atomicfile"
	"github.com/vouchdev/vouch/keys"
)

// Directory and file names inside a repository directory.
const (
	KeysDir       = "keys"
	TargetsDir    = "targets"
	RepositoryDir = "repository"
	// OnlineKeyFile, in keys/, signs snapshot and timestamp.
	OnlineKeyFile = "online.key"
	// DevelopmentFile marks a repository whose offline keys are kept on
	// the server: for development only.
	DevelopmentFile = "DEVELOPMENT"
)

// Target names: the trust material a registry publishes.
const (
	TargetLogVKey        = "log.vkey"
	TargetLogs           = "logs.json"
	TargetOperators      = "operators.json"
	TargetWitnessPolicy  = "witness.policy"
	TargetSigstoreRoot   = "sigstore-trusted-root.json"
	maxTargetSize        = 4 << 20
	targetsMetadataLimit = 5 << 20
)

// Expiry is how long each role's metadata is valid once signed.
type Expiry struct {
	Root, Targets, Snapshot, Timestamp time.Duration
}

// DefaultExpiry: a year for root, half a year for targets (both re-signed
// offline), a week for snapshot and a day for timestamp (re-signed by the
// server when half their time is gone).
var DefaultExpiry = Expiry{Root: 365 * 24 * time.Hour, Targets: 182 * 24 * time.Hour,
	Snapshot: 7 * 24 * time.Hour, Timestamp: 24 * time.Hour}

// Repo is a repository directory.
type Repo struct {
	Dir    string
	Expiry Expiry
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Open returns the repository in dir (which need not exist yet).
func Open(dir string) *Repo {
	return &Repo{Dir: dir, Expiry: DefaultExpiry, Now: time.Now}
}

func (r *Repo) now() time.Time { return r.Now().UTC().Truncate(time.Second) }

func (r *Repo) path(elem ...string) string {
	return filepath.Join(append([]string{r.Dir}, elem...)...)
}

// Exists reports whether the directory holds a repository (a root).
func (r *Repo) Exists() bool {
	_, err := os.Stat(r.path(RepositoryDir, "1.root.json"))
	return err == nil
}

// Development reports whether the repository is marked as a development one.
func (r *Repo) Development() bool {
	_, err := os.Stat(r.path(DevelopmentFile))
	return err == nil
}

// InitOptions says how to make a new repository.
type InitOptions struct {
	// RootKeys is the number of root keys to make, and RootThreshold how
	// many must sign a new root (defaults 1 and 1).
	RootKeys, RootThreshold int
	// Targets are the first target files, by name.
	Targets map[string][]byte
	// Development marks the repository as one whose offline keys stay on
	// the server.
	Development bool
}

// Init makes a new repository: root, targets and online keys, root version
// 1, the targets, and, the online key being here, snapshot and timestamp.
func (r *Repo) Init(o InitOptions) error {
	if r.Exists() {
		return fmt.Errorf("%s already holds a TUF repository", r.Dir)
	}
	if o.RootKeys <= 0 {
		o.RootKeys = 1
	}
	if o.RootThreshold <= 0 {
		o.RootThreshold = 1
	}
	if o.RootThreshold > o.RootKeys {
		return fmt.Errorf("a root threshold of %d needs at least as many root keys, not %d", o.RootThreshold, o.RootKeys)
	}
	for _, d := range []string{KeysDir, TargetsDir, filepath.Join(RepositoryDir, "targets")} {
		if err := os.MkdirAll(r.path(d), 0o700); err != nil {
			return err
		}
	}
	if o.Development {
		if err := atomicfile.Write(r.path(DevelopmentFile), []byte("This TUF repository keeps its root and targets keys on the server: for development only. See docs/trust.md.\n"), 0o644); err != nil {
			return err
		}
	}
	root := metadata.Root(r.now().Add(r.Expiry.Root))
	for i := 0; i < o.RootKeys; i++ {
		if err := r.newKey(root, metadata.ROOT, "root"); err != nil {
			return err
		}
	}
	root.Signed.Roles[metadata.ROOT].Threshold = o.RootThreshold
	if err := r.newKey(root, metadata.TARGETS, "targets"); err != nil {
		return err
	}
	if err := r.newOnlineKey(root); err != nil {
		return err
	}
	if err := r.signRoot(root, nil); err != nil {
		return err
	}
	for name, b := range o.Targets {
		if err := r.SetTarget(name, b); err != nil {
			return err
		}
	}
	if err := r.SignTargets(); err != nil {
		return err
	}
	_, err := r.Publish(true)
	return err
}

// keyFile returns a free name keys/<prefix>-N.key.
func (r *Repo) keyFile(prefix string) string {
	for n := 1; ; n++ {
		p := r.path(KeysDir, prefix+"-"+strconv.Itoa(n)+".key")
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(r.path(KeysDir, "retired", filepath.Base(p))); errors.Is(err, fs.ErrNotExist) {
				return p
			}
		}
	}
}

// newKey makes a key for role, writes it as keys/<prefix>-N.key and adds it
// to root.
func (r *Repo) newKey(root *metadata.Metadata[metadata.RootType], role, prefix string) error {
	return r.addKey(root, r.keyFile(prefix), role)
}

func (r *Repo) addKey(root *metadata.Metadata[metadata.RootType], path string, roles ...string) error {
	k, err := keys.Generate(keys.Ed25519)
	if err != nil {
		return err
	}
	if err := keys.WriteFiles(path, k); err != nil {
		return err
	}
	tk, err := metadata.KeyFromPublicKey(k.Public().Crypto())
	if err != nil {
		return err
	}
	for _, role := range roles {
		if err := root.Signed.AddKey(tk, role); err != nil {
			return err
		}
	}
	return nil
}

// newOnlineKey makes keys/online.key, for snapshot and timestamp.
func (r *Repo) newOnlineKey(root *metadata.Metadata[metadata.RootType]) error {
	p := r.path(KeysDir, OnlineKeyFile)
	if _, err := os.Stat(p); err == nil {
		if err := r.retireKeyFile(p); err != nil {
			return err
		}
	}
	return r.addKey(root, p, metadata.SNAPSHOT, metadata.TIMESTAMP)
}

// retireKeyFile moves a key file (and its .pub) to keys/retired/.
func (r *Repo) retireKeyFile(p string) error {
	dir := r.path(KeysDir, "retired")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	name := filepath.Base(p)
	if filepath.Base(p) == OnlineKeyFile {
		name = "online-" + r.now().Format("20060102T150405Z") + ".key"
	}
	for _, sfx := range []string{"", ".pub"} {
		if err := os.Rename(p+sfx, filepath.Join(dir, name+sfx)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// signer is a key file able to sign for a role.
type signer struct {
	path string
	id   string
	s    signature.Signer
}

// signers loads the key files in keys/ and returns those whose TUF key IDs
// are in ids.
func (r *Repo) signers(ids []string) ([]signer, error) {
	files, err := filepath.Glob(r.path(KeysDir, "*.key"))
	if err != nil {
		return nil, err
	}
	var out []signer
	for _, f := range files {
		k, err := keys.LoadPrivate(f)
		if err != nil {
			return nil, err
		}
		if k.Public().Type() != keys.Ed25519 {
			continue
		}
		tk, err := metadata.KeyFromPublicKey(k.Public().Crypto())
		if err != nil {
			return nil, err
		}
		id, err := tk.ID()
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, id) {
			continue
		}
		s, err := signature.LoadED25519Signer(k.Ed25519())
		if err != nil {
			return nil, err
		}
		out = append(out, signer{path: f, id: id, s: s})
	}
	return out, nil
}

// MissingKeysError says that this machine lacks the keys to sign for a role.
type MissingKeysError struct {
	Role      string
	Have      int
	Threshold int
	Dir       string
}

func (e *MissingKeysError) Error() string {
	return fmt.Sprintf("signing %s.json needs %d of its keys, and %s holds %d: sign where the %s keys are kept",
		e.Role, e.Threshold, e.Dir, e.Have, e.Role)
}

// sign signs meta with every key file of role in root, requiring at least
// the role's threshold.
func sign[T metadata.Roles](r *Repo, meta *metadata.Metadata[T], root *metadata.RootType, role string) error {
	rl := root.Roles[role]
	ss, err := r.signers(rl.KeyIDs)
	if err != nil {
		return err
	}
	if len(ss) < rl.Threshold {
		return &MissingKeysError{Role: role, Have: len(ss), Threshold: rl.Threshold, Dir: r.path(KeysDir)}
	}
	meta.ClearSignatures()
	for _, s := range ss {
		if _, err := meta.Sign(s.s); err != nil {
			return err
		}
	}
	return nil
}

// signRoot signs and writes a new root version. prev, the root before it
// (nil for version 1), must sign it too with its threshold.
func (r *Repo) signRoot(root *metadata.Metadata[metadata.RootType], prev *metadata.RootType) error {
	root.ClearSignatures()
	ids := slices.Clone(root.Signed.Roles[metadata.ROOT].KeyIDs)
	need := []*metadata.Role{root.Signed.Roles[metadata.ROOT]}
	if prev != nil {
		ids = append(ids, prev.Roles[metadata.ROOT].KeyIDs...)
		need = append(need, prev.Roles[metadata.ROOT])
	}
	ss, err := r.signers(ids)
	if err != nil {
		return err
	}
	for _, rl := range need {
		have := 0
		for _, s := range ss {
			if slices.Contains(rl.KeyIDs, s.id) {
				have++
			}
		}
		if have < rl.Threshold {
			return &MissingKeysError{Role: metadata.ROOT, Have: have, Threshold: rl.Threshold, Dir: r.path(KeysDir)}
		}
	}
	for _, s := range ss {
		if _, err := root.Sign(s.s); err != nil {
			return err
		}
	}
	return r.write(root, fmt.Sprintf("%d.root.json", root.Signed.Version))
}

// write writes metadata into repository/.
func (r *Repo) write(meta interface{ ToBytes(bool) ([]byte, error) }, name string) error {
	b, err := meta.ToBytes(true)
	if err != nil {
		return err
	}
	return atomicfile.Write(r.path(RepositoryDir, name), b, 0o644)
}

var versioned = regexp.MustCompile(`^([1-9][0-9]{0,17})\.(root|snapshot|targets)\.json$`)

// latest returns the highest version of a role's versioned file, 0 if none.
func (r *Repo) latest(role string) (int64, error) {
	ents, err := os.ReadDir(r.path(RepositoryDir))
	if err != nil {
		return 0, err
	}
	var v int64
	for _, e := range ents {
		m := versioned.FindStringSubmatch(e.Name())
		if m == nil || m[2] != role {
			continue
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		v = max(v, n)
	}
	return v, nil
}

func readMeta[T metadata.Roles](r *Repo, name string, m *metadata.Metadata[T]) (*metadata.Metadata[T], error) {
	b, err := os.ReadFile(r.path(RepositoryDir, name))
	if err != nil {
		return nil, err
	}
	out, err := m.FromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Root returns the newest root.
func (r *Repo) Root() (*metadata.Metadata[metadata.RootType], error) {
	v, err := r.latest(metadata.ROOT)
	if err != nil {
		return nil, err
	}
	if v == 0 {
		return nil, fmt.Errorf("%s holds no TUF root (make one with vouch admin tuf init)", r.path(RepositoryDir))
	}
	return readMeta(r, fmt.Sprintf("%d.root.json", v), metadata.Root())
}

// RootBytes returns the newest root as published.
func (r *Repo) RootBytes() ([]byte, error) {
	v, err := r.latest(metadata.ROOT)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(r.path(RepositoryDir, fmt.Sprintf("%d.root.json", v)))
}

// ValidTargetName reports whether name may name a target file.
func ValidTargetName(name string) bool {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`).MatchString(name)
}

// SetTarget writes a target file into targets/; SignTargets publishes it.
func (r *Repo) SetTarget(name string, b []byte) error {
	if !ValidTargetName(name) {
		return fmt.Errorf("%q is not a valid target name", name)
	}
	if len(b) > maxTargetSize {
		return fmt.Errorf("target %s is larger than %d bytes", name, maxTargetSize)
	}
	if err := os.MkdirAll(r.path(TargetsDir), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(r.path(TargetsDir, name), b, 0o644)
}

// RemoveTarget removes a target file from targets/.
func (r *Repo) RemoveTarget(name string) error {
	if err := os.Remove(r.path(TargetsDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Target returns a target file as targets/ holds it.
func (r *Repo) Target(name string) ([]byte, error) {
	return os.ReadFile(r.path(TargetsDir, name))
}

// SignTargets signs a new targets version listing every file in targets/,
// with the targets keys held in keys/, and publishes the files under
// repository/targets/<sha256>.<name>.
func (r *Repo) SignTargets() error {
	root, err := r.Root()
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(r.path(TargetsDir))
	if err != nil {
		return err
	}
	v, err := r.latest(metadata.TARGETS)
	if err != nil {
		return err
	}
	t := metadata.Targets(r.now().Add(r.Expiry.Targets))
	t.Signed.Version = v + 1
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if !ValidTargetName(e.Name()) {
			return fmt.Errorf("%s: %q is not a valid target name", r.path(TargetsDir), e.Name())
		}
		b, err := os.ReadFile(r.path(TargetsDir, e.Name()))
		if err != nil {
			return err
		}
		tf, err := metadata.TargetFile().FromBytes(e.Name(), b, "sha256")
		if err != nil {
			return err
		}
		t.Signed.Targets[e.Name()] = tf
		sum := sha256.Sum256(b)
		if err := atomicfile.Write(r.path(RepositoryDir, "targets", hex.EncodeToString(sum[:])+"."+e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	if err := sign(r, t, &root.Signed, metadata.TARGETS); err != nil {
		return err
	}
	return r.write(t, fmt.Sprintf("%d.targets.json", t.Signed.Version))
}

// Publish signs, with the online key, a new snapshot when targets changed
// or the snapshot has less than half its time left, and a new timestamp
// when the snapshot changed or the timestamp has less than half its time
// left (force: both, whatever their state). It reports whether it wrote
// anything; without the online key in keys/ it returns a
// *MissingKeysError.
func (r *Repo) Publish(force bool) (bool, error) {
	root, err := r.Root()
	if err != nil {
		return false, err
	}
	now := r.now()
	tv, err := r.latest(metadata.TARGETS)
	if err != nil {
		return false, err
	}
	if tv == 0 {
		return false, errors.New("no targets to publish: sign targets first")
	}
	targetsBytes, err := os.ReadFile(r.path(RepositoryDir, fmt.Sprintf("%d.targets.json", tv)))
	if err != nil {
		return false, err
	}
	sv, err := r.latest(metadata.SNAPSHOT)
	if err != nil {
		return false, err
	}
	newSnap := force || sv == 0
	if !newSnap {
		snap, err := readMeta(r, fmt.Sprintf("%d.snapshot.json", sv), metadata.Snapshot())
		if err != nil {
			return false, err
		}
		m := snap.Signed.Meta["targets.json"]
		newSnap = m == nil || m.Version != tv || halfGone(snap.Signed.Expires, r.Expiry.Snapshot, now)
	}
	if newSnap {
		snap := metadata.Snapshot(now.Add(r.Expiry.Snapshot))
		snap.Signed.Version = sv + 1
		snap.Signed.Meta["targets.json"] = metaFile(tv, targetsBytes)
		if err := sign(r, snap, &root.Signed, metadata.SNAPSHOT); err != nil {
			return false, err
		}
		if err := r.write(snap, fmt.Sprintf("%d.snapshot.json", snap.Signed.Version)); err != nil {
			return false, err
		}
		sv = snap.Signed.Version
	}
	ts, err := readMeta(r, "timestamp.json", metadata.Timestamp())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if !newSnap && ts != nil && ts.Signed.Meta["snapshot.json"] != nil && ts.Signed.Meta["snapshot.json"].Version == sv &&
		!halfGone(ts.Signed.Expires, r.Expiry.Timestamp, now) {
		return false, nil
	}
	snapBytes, err := os.ReadFile(r.path(RepositoryDir, fmt.Sprintf("%d.snapshot.json", sv)))
	if err != nil {
		return false, err
	}
	nts := metadata.Timestamp(now.Add(r.Expiry.Timestamp))
	if ts != nil {
		nts.Signed.Version = ts.Signed.Version + 1
	}
	nts.Signed.Meta["snapshot.json"] = metaFile(sv, snapBytes)
	if err := sign(r, nts, &root.Signed, metadata.TIMESTAMP); err != nil {
		return false, err
	}
	return true, r.write(nts, "timestamp.json")
}

func halfGone(expires time.Time, validity time.Duration, now time.Time) bool {
	return expires.Sub(now) < validity/2
}

func metaFile(version int64, b []byte) *metadata.MetaFiles {
	sum := sha256.Sum256(b)
	m := metadata.MetaFile(version)
	m.Length = int64(len(b))
	m.Hashes = metadata.Hashes{"sha256": sum[:]}
	return m
}

// Roles a key rotation may name.
var Roles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// Rotate replaces the keys of a role with n new ones (snapshot and
// timestamp share the online key: rotating either rotates both), in a new
// root version signed by the current root keys (and, for root, the new
// ones too). The old keys' files move to keys/retired/. A new targets key
// re-signs targets; a new online key re-signs snapshot and timestamp.
func (r *Repo) Rotate(role string, n, threshold int) error {
	if !slices.Contains(Roles, role) {
		return fmt.Errorf("unknown role %q (want one of %v)", role, Roles)
	}
	if n <= 0 {
		n = 1
	}
	if threshold <= 0 {
		threshold = 1
	}
	if threshold > n {
		return fmt.Errorf("a threshold of %d needs at least as many keys, not %d", threshold, n)
	}
	old, err := r.Root()
	if err != nil {
		return err
	}
	prev := old.Signed
	b, err := old.ToBytes(false)
	if err != nil {
		return err
	}
	root, err := metadata.Root().FromBytes(b)
	if err != nil {
		return err
	}
	root.Signed.Version++
	root.Signed.Expires = r.now().Add(r.Expiry.Root)
	online := role == metadata.SNAPSHOT || role == metadata.TIMESTAMP
	roles := []string{role}
	if online {
		roles = []string{metadata.SNAPSHOT, metadata.TIMESTAMP}
	}
	var retire []string
	for _, rl := range roles {
		ss, err := r.signers(prev.Roles[rl].KeyIDs)
		if err != nil {
			return err
		}
		for _, s := range ss {
			if !slices.Contains(retire, s.path) {
				retire = append(retire, s.path)
			}
		}
		for _, id := range slices.Clone(root.Signed.Roles[rl].KeyIDs) {
			if err := root.Signed.RevokeKey(id, rl); err != nil {
				return err
			}
		}
	}
	if online {
		if err := r.newOnlineKey(root); err != nil {
			return err
		}
	} else {
		for i := 0; i < n; i++ {
			if err := r.newKey(root, role, role); err != nil {
				return err
			}
		}
		root.Signed.Roles[role].Threshold = threshold
	}
	// The old root keys sign the new root (and retire only after, when
	// root is the role rotated).
	if err := r.signRoot(root, &prev); err != nil {
		return err
	}
	sort.Strings(retire)
	for _, p := range retire {
		if online && filepath.Base(p) == OnlineKeyFile {
			continue // already moved aside by newOnlineKey
		}
		if err := r.retireKeyFile(p); err != nil {
			return err
		}
	}
	if role == metadata.TARGETS {
		if err := r.SignTargets(); err != nil {
			return err
		}
	}
	if online {
		if _, err := r.Publish(true); err != nil {
			return err
		}
	}
	return nil
}
