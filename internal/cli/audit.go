package cli

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/audit"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/translog"
)

func newAuditCmd(g *globals) *cobra.Command {
	var stateFile string
	var fresh, noCompare bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Replay and re-validate the whole log from the outside",
		Long: `Audit the registry: download every entry through the tile API (not the
database), check that the entries hash to the verified checkpoint, check every
signature, and replay every entry through the same state machine the registry
runs, reporting the first entry that should have been refused. Then compare the
replayed state with the registry's answers for every package.

Keyless attestations (Sigstore bundles) are matched against the log (the
bundle's digest, signature and statement), and verified again against the
--sigstore-trusted-root files: a bundle the log says was verified against one
of them must verify; bundles from roots the auditor does not hold are counted
as unchecked.

Progress is saved (--state, default under $VOUCH_HOME/audit/); the next run
checks that the log still extends what was audited and continues from there.
Exit status: 0 when everything checks out, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			v, err := translog.LoadVerifier(g.logKey)
			if err != nil {
				return err
			}
			if stateFile == "" {
				stateFile = filepath.Join(client.DefaultHome(), "audit", url.PathEscape(v.Origin())+".json")
			}
			if fresh {
				os.Remove(stateFile)
			}
			var progress func(done, total uint64)
			if p := g.progress("auditing", 0); p != nil {
				start := time.Now()
				progress = func(done, total uint64) {
					fmt.Fprintf(g.errOut, "\rauditing: %d / %d entries (%.0f/s)   ", done, total, float64(done)/time.Since(start).Seconds())
				}
			}
			roots, err := loadTrustedRoots(g.trustedRoots)
			if err != nil {
				return err
			}
			rep, err := audit.Run(cmd.Context(), audit.Options{Client: c, LogURL: g.registry, StateFile: stateFile,
				Compare: !noCompare, Progress: progress, Sigstore: roots}, v)
			if progress != nil {
				fmt.Fprintln(g.errOut)
			}
			if err != nil {
				return err
			}
			if err := g.print(rep, func(w io.Writer) { printAudit(w, rep) }); err != nil {
				return err
			}
			if !rep.OK() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stateFile, "state", "", "file that keeps the audit's progress (default $VOUCH_HOME/audit/<origin>.json)")
	cmd.Flags().BoolVar(&fresh, "fresh", false, "start from entry 0, ignoring saved progress")
	cmd.Flags().BoolVar(&noCompare, "no-compare", false, "skip asking the registry about every package")
	cmd.Flags().StringArrayVar(&g.trustedRoots, "sigstore-trusted-root", nil, "a Sigstore trusted_root.json to verify keyless attestations' bundles against (repeatable); without one, bundles are only matched against the log")
	return cmd
}

func printAudit(w io.Writer, r *audit.Report) {
	fmt.Fprintf(w, "log %s: replayed entries %d to %d in %s (%.0f entries/s)\n", r.Origin, r.From, r.To, r.Elapsed.Round(time.Millisecond), r.Rate)
	if r.Violation != nil {
		fmt.Fprintf(w, "FAIL: entry %d should have been refused: %s: %s\n", r.Violation.Index, r.Violation.Code, r.Violation.Reason)
		return
	}
	fmt.Fprintf(w, "every entry is signed and obeys the rules; the entries match the checkpoint\n")
	if r.Erased > 0 {
		fmt.Fprintf(w, "%d attestation statements were checked; %d were erased, so their signatures could not be re-checked\n", r.Statements, r.Erased)
	}
	if r.Bundles+r.BundlesUnchecked > 0 {
		fmt.Fprintf(w, "%d keyless bundles verified against a trusted root", r.Bundles)
		if r.BundlesUnchecked > 0 {
			fmt.Fprintf(w, "; %d matched the log but no trusted root given (--sigstore-trusted-root) issued their certificates", r.BundlesUnchecked)
		}
		fmt.Fprintln(w)
	}
	if len(r.Mismatches) > 0 {
		fmt.Fprintf(w, "FAIL: the registry's answers differ from the log in %d places:\n", len(r.Mismatches))
		for _, m := range r.Mismatches {
			fmt.Fprintf(w, "  %s\n", m)
		}
		return
	}
	fmt.Fprintf(w, "ok: the registry's answers for all %d packages match the replayed log\n", r.Packages)
}
