package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/content"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/backend"
	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/mirror"
	"github.com/vouchdev/vouch/registry"
	"github.com/vouchdev/vouch/server"
	"github.com/vouchdev/vouch/translog"
)

func newMirrorCmd(g *globals) *cobra.Command {
	var from, logKey, data, addr, db, blobs, logLevel string
	var interval time.Duration
	var fetchPrivate bool
	cmd := &cobra.Command{
		Use:   "mirror --from URL --log-key VKEY",
		Short: "Serve a verified, read-only copy of another registry",
		Long: `Follow a registry (or another mirror) through its C2SP checkpoints and entry
bundles, verify every checkpoint's signature (and witness quorum, with
--witness-policy), that every new checkpoint extends the last one, and every
entry through the same state machine as the registry; copy statements, notes,
profiles and release content, checking every digest; erase what the upstream
erases. Serve the same /log/ checkpoints and tiles byte for byte, and the same
read API; writes are refused with the upstream named.

If the upstream rolls back, forks, or logged an entry the rules refuse, the
mirror stops following, keeps serving the last good state, and reports the
evidence in GET /api/v1/status, its log and GET /metrics (vouch_mirror_stopped,
vouch_mirror_lag_entries). See docs/federation.md.`,
		Example: `  vouch mirror --from https://registry.example.com --log-key registry.vkey --data ./mirror --addr 0.0.0.0:8080`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			logger := slog.New(slog.NewTextHandler(g.errOut, &slog.HandlerOptions{Level: level}))
			slog.SetDefault(logger) // for what packages log on their own, such as a schema upgrade
			if from == "" || logKey == "" {
				return errors.New("--from (the upstream's URL) and --log-key (its log verifier key) are required")
			}
			v, err := translog.LoadVerifier(logKey)
			if err != nil {
				return err
			}
			policy, err := g.policy()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			dir, err := datadir.OpenMirror(data)
			if err != nil {
				return err
			}
			defer dir.Close()
			st, err := backend.OpenStore(ctx, data, db)
			if err != nil {
				return err
			}
			defer st.Close()
			bs, err := backend.OpenBlobs(ctx, data, blobs)
			if err != nil {
				return err
			}
			mets := metrics.New()
			reg, err := registry.Open(ctx, registry.Config{Store: st, Origin: v.Origin(), LogVKey: v.Key(), Logger: logger, Blobs: bs,
				Fetcher: content.NewClient(fetchPrivate), Metrics: mets})
			if err != nil {
				return err
			}
			defer reg.Close()
			m, err := mirror.New(mirror.Config{Upstream: from, LogKey: v, Policy: policy, Registry: reg, Blobs: bs,
				Fetcher:   &content.Fetcher{Client: content.NewClient(fetchPrivate), Blobs: bs, MaxSize: reg.MaxBlobSize()},
				StateFile: filepath.Join(data, datadir.MirrorStateFile), Interval: interval, Logger: logger, Metrics: mets})
			if err != nil {
				return err
			}
			srv := server.New(server.Config{Registry: m.Serving(), Logger: logger, Metrics: mets})
			ln, err := srv.Listen(addr)
			if err != nil {
				return err
			}
			hs := srv.HTTPServer()
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			mctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go m.Run(mctx)
			logger.Info("vouch mirror serving", "url", "http://"+ln.Addr().String(), "upstream", from, "origin", v.Origin())
			select {
			case err := <-errc:
				if !errors.Is(err, http.ErrServerClosed) {
					return err
				}
			case <-ctx.Done():
			}
			sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer scancel()
			return hs.Shutdown(sctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the upstream registry or mirror, e.g. https://registry.example.com")
	f.StringVar(&logKey, "log-key", "", "the upstream's log verifier key, or a file holding it")
	f.StringVar(&data, "data", "./vouch-mirror", "data directory")
	f.StringVar(&addr, "addr", "127.0.0.1:8081", "address to listen on")
	f.StringVar(&db, "db", "", "database: empty for SQLite in the data directory, or postgres://…")
	f.StringVar(&blobs, "blobs", "", "blob store: empty for <data>/blobs, a directory, or s3://…")
	f.DurationVar(&interval, "interval", time.Second, "how often the upstream is asked for a newer checkpoint")
	f.BoolVar(&fetchPrivate, "fetch-private-urls", false, "allow content linked on loopback and private networks")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
