package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/witness"
)

func newWitnessCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "witness",
		Short: "Run a transparency-log witness (C2SP tlog-witness) for Vouch logs and others",
		Long: `A witness cosigns the checkpoints of the logs it is configured for, after
checking that each extends the last one it cosigned, so that a log cannot show
different histories to different people. It speaks C2SP tlog-witness
(POST /add-checkpoint) and signs C2SP tlog-cosignature (cosignature/v1), so it
witnesses any log that publishes C2SP checkpoints. See docs/witnessing.md.`,
	}
	cmd.AddCommand(newWitnessServeCmd(g), newWitnessAddLogCmd(g))
	return cmd
}

func newWitnessServeCmd(g *globals) *cobra.Command {
	var data, addr, name, keyFile, logLevel string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve POST /add-checkpoint",
		Long: `Serve a witness from a data directory. The first start creates the witness's key
(--name names it, e.g. witness.example.com/w1; or --key imports an Ed25519 note
signer key) and prints its cosignature/v1 verifier key: give it to the logs
that submit to this witness and to the clients whose policies trust it. Add
logs with "vouch witness add-log"; the server picks them up without a restart.
GET /metrics serves the witness's requests and Go runtime metrics for
Prometheus.`,
		Example: `  vouch witness serve --data ./witness --name witness.example.com/w1 --addr 0.0.0.0:7380`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			logger := slog.New(slog.NewTextHandler(g.errOut, &slog.HandlerOptions{Level: level}))
			var vkey string
			var err error
			if keyFile != "" {
				vkey, err = witness.ImportKey(data, keyFile)
			} else {
				vkey, err = witness.Init(data, name)
			}
			if err != nil {
				return err
			}
			w, err := witness.Open(data, logger)
			if err != nil {
				return err
			}
			if name != "" && name != w.Name() {
				return fmt.Errorf("this witness is named %q, not %q", w.Name(), name)
			}
			// The witness's own metrics are Go's and the process's, and its
			// requests by route and status.
			mets := metrics.New()
			mux := http.NewServeMux()
			mux.Handle("/add-checkpoint", w)
			mux.Handle("GET /metrics", mets.Handler())
			mux.Handle("/", w) // answers 404, the way the witness does
			srv := &http.Server{Addr: addr, Handler: mets.HTTP(mux), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
				WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			logger.Info("witness serving", "url", "http://"+ln.Addr().String(), "name", w.Name())
			fmt.Fprintf(g.errOut, "\nThis witness's cosignature verifier key (for logs and policies):\n  %s\n\n", vkey)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "./vouch-witness", "the witness's data directory: its key and what it cosigned")
	f.StringVar(&addr, "addr", "127.0.0.1:7380", "address to listen on")
	f.StringVar(&name, "name", "", "the witness's name, for a new witness (e.g. witness.example.com/w1)")
	f.StringVar(&keyFile, "key", "", "an Ed25519 note signer key file to use as the witness's key, for a new witness")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

func newWitnessAddLogCmd(g *globals) *cobra.Command {
	var data, origin, vkey string
	cmd := &cobra.Command{
		Use:   "add-log --origin ORIGIN --vkey VKEY",
		Short: "Configure a log to witness",
		Long: `Configure a log this witness cosigns: its origin (the first line of its
checkpoints) and its checkpoint verifier key, given literally or as a file
(a Vouch registry's log.vkey). A running witness picks the log up at its next
submission.`,
		Example: `  vouch witness add-log --data ./witness --origin registry.example.com/vouch --vkey vouch-data/log.vkey`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if origin == "" || vkey == "" {
				return errors.New("--origin and --vkey are required")
			}
			v, err := translog.LoadVerifier(vkey)
			if err != nil {
				return err
			}
			if v.Origin() != origin {
				fmt.Fprintf(g.errOut, "note: the key is named %q; the log's origin is %q\n", v.Origin(), origin)
			}
			if err := witness.AddLog(data, origin, strings.TrimSpace(v.Key())); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "witnessing %s\n", origin)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "./vouch-witness", "the witness's data directory")
	f.StringVar(&origin, "origin", "", "the log's origin")
	f.StringVar(&vkey, "vkey", "", "the log's checkpoint verifier key, or a file holding it")
	return cmd
}
