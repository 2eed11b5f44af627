package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/tufrepo"
)

// TUFRefreshInterval is how often vouch serve checks whether its TUF
// snapshot and timestamp are due for re-signing.
const TUFRefreshInterval = time.Minute

// rotateLog retires the data directory's log key and starts a new log under
// origin that continues the old one from the database's newest checkpoint
// (see datadir.Dir.RotateLog).
func rotateLog(ctx context.Context, dir *datadir.Dir, st store.Store, origin string) error {
	row, err := st.LatestCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return errors.New("--rotate-log: the log has no checkpoint yet; start it with --origin instead")
	}
	if err != nil {
		return err
	}
	return dir.RotateLog(origin, row.Note)
}

// registryTargets returns the TUF targets a data directory gives: the log
// key, the logs, the operator key and, with --witness-policy, the policy.
func registryTargets(g *globals, dir *datadir.Dir) (map[string][]byte, error) {
	t := map[string][]byte{
		tufrepo.TargetLogVKey:   []byte(dir.LogVKey + "\n"),
		tufrepo.TargetLogs:      dir.Logs.Marshal(),
		tufrepo.TargetOperators: tufrepo.MarshalOperators(dir.OperatorKey.Public()),
	}
	if g.witnessPolicy != "" {
		b, err := os.ReadFile(g.witnessPolicy)
		if err != nil {
			return nil, err
		}
		t[tufrepo.TargetWitnessPolicy] = b
	}
	return t, nil
}

// setupTUF opens the TUF repository the server publishes (--tuf-dir, or
// <data>/tuf), making a development one there on first start when none was
// named, and starts its refresher. It returns the files to serve, or nil
// with --tuf-dir off, and the path of the newest root.
func setupTUF(ctx context.Context, g *globals, f *serveFlags, dir *datadir.Dir, logger *slog.Logger) (fs.FS, string, error) {
	path := f.tufDir
	if path == "off" {
		return nil, "", nil
	}
	explicit := path != ""
	if !explicit {
		path = filepath.Join(f.data, "tuf")
	}
	r := tufrepo.Open(path)
	targets, err := registryTargets(g, dir)
	if err != nil {
		return nil, "", err
	}
	switch {
	case !r.Exists() && explicit:
		return nil, "", fmt.Errorf("--tuf-dir %s holds no TUF repository: make one with vouch admin tuf init (docs/trust.md)", path)
	case !r.Exists():
		if err := r.Init(tufrepo.InitOptions{Development: true, Targets: targets}); err != nil {
			return nil, "", fmt.Errorf("making a development TUF repository: %w", err)
		}
		logger.Warn("made a development TUF repository: its root and targets keys are on this server; for production, see docs/trust.md", "dir", path)
	case r.Development():
		// The server holds the targets key: keep the targets in step with
		// the data directory (a rotated log key, the witness policy).
		changed := false
		for name, b := range targets {
			if old, err := r.Target(name); err != nil || !bytes.Equal(old, b) {
				if err := r.SetTarget(name, b); err != nil {
					return nil, "", err
				}
				changed = true
			}
		}
		if _, err := r.Target(tufrepo.TargetWitnessPolicy); err == nil && targets[tufrepo.TargetWitnessPolicy] == nil {
			if err := r.RemoveTarget(tufrepo.TargetWitnessPolicy); err != nil {
				return nil, "", err
			}
			changed = true
		}
		if changed {
			if err := r.SignTargets(); err != nil {
				return nil, "", err
			}
			logger.Info("signed new TUF targets for the development repository", "dir", path)
		}
	default:
		if old, err := r.Target(tufrepo.TargetLogs); err == nil && !bytes.Equal(old, targets[tufrepo.TargetLogs]) {
			logger.Warn("the TUF targets' logs.json is not this data directory's: clients that trust the TUF root will not follow this log until the operators sign it (vouch admin tuf sign --data)",
				"dir", path)
		}
	}
	go r.Refresh(ctx, TUFRefreshInterval, logger)
	root, err := r.Root()
	if err != nil {
		return nil, "", err
	}
	rootPath := filepath.Join(path, tufrepo.RepositoryDir, fmt.Sprintf("%d.root.json", root.Signed.Version))
	return os.DirFS(filepath.Join(path, tufrepo.RepositoryDir)), rootPath, nil
}
