package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/move"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// moveJSON is the --json answer of vouch package move.
type moveJSON struct {
	Package      string `json:"package"`
	From         string `json:"from"`
	To           string `json:"to"`
	MoveIndex    uint64 `json:"moveIndex,omitempty"`
	Records      int    `json:"records"`
	Identities   int    `json:"identities"`
	Attestations int    `json:"attestations"`
	Content      int    `json:"content"`
	Skipped      int    `json:"skipped"`
	Erased       int    `json:"erased"`
	Status       string `json:"status"`
}

func newMoveCmd(g *globals) *cobra.Command {
	var toURL, toKey, tmp string
	cmd := &cobra.Command{
		Use:   "move NAME --to URL --to-key VKEY",
		Short: "Hand a package to another registry, with its history",
		Long: `Move a package to another Vouch registry. Its owners sign a move record
here naming the destination (its log's origin and verifier key, and its URL);
from then on this registry refuses their writes and points readers there.
The command then carries the package's history to the destination: its
records, the identity records of the keys they name, and the attestations
about its releases, each imported with its inclusion proof in this log, and
the uploaded content of its releases. The package takes writes at the
destination once the move record is imported there.

If the command is interrupted, run it again: it signs no second move, and
imports only what the destination does not hold yet. Moving a package back,
or on to a third registry, works the same way, from wherever it is now.

A package that operator records acted on cannot move (the destination could
not check their authority); yank notes and identity profiles stay here.`,
		Example: `  vouch package move acme/widget --to https://vouch.example.org --to-key example.vkey --key alice.key`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, version, err := record.ParseRef(args[0])
			if err != nil {
				return err
			}
			if version != "" {
				return errors.New("a whole package moves: give NAME, not NAME@VERSION")
			}
			if toURL == "" || toKey == "" {
				return errors.New("--to (the destination's URL) and --to-key (its log verifier key, or a file holding it) are required")
			}
			v, err := translog.LoadVerifier(toKey)
			if err != nil {
				return fmt.Errorf("--to-key: %w", err)
			}
			signers, src, err := g.signedClient()
			if err != nil {
				return err
			}
			if v.Origin() == src.Origin() {
				return fmt.Errorf("--to-key is this registry's own log key (%s)", v.Origin())
			}
			policy, err := g.policy()
			if err != nil {
				return err
			}
			dst, err := client.New(toURL, client.Options{LogKey: v, UserAgent: "vouch-cli", WitnessPolicy: policy})
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			// The destination must answer with checkpoints its key signs
			// before anything is signed here.
			if _, _, err := dst.Checkpoint(ctx); err != nil {
				return fmt.Errorf("the destination %s: %w", toURL, err)
			}
			out := moveJSON{Package: name, From: src.Origin(), To: v.Origin()}
			p, _, err := src.Package(ctx, name, client.At{})
			if err != nil {
				return err
			}
			switch {
			case p.Status == "moved" && p.Location != nil && p.Location.Origin == v.Origin():
				// Moved already: carry what is left.
			case p.Status == "moved" && p.Location != nil:
				return fmt.Errorf("package %s moved to %s already; move it on from there", name, p.Location.Origin)
			default:
				rc, err := writeChained(ctx, src, record.ChainPackage, name, "", func(prev string) *record.Record {
					return &record.Record{Type: record.TypeMove, Package: name, Prev: prev, To: v.Origin(), ToKey: v.Key(), ToURL: toURL}
				}, signers...)
				if err != nil {
					return err
				}
				out.MoveIndex = rc.Index
				fmt.Fprintf(g.errOut, "signed the move of %s to %s at log index %d\n", name, v.Origin(), rc.Index)
			}
			res, err := move.Carry(ctx, src, dst, name, tmp, func(done, total int) {
				if !g.json && (done%100 == 0 || done == total) {
					fmt.Fprintf(g.errOut, "imported %d of %d entries\n", done, total)
				}
			})
			if err != nil {
				return fmt.Errorf("%w\n(the move is signed; run this command again to finish carrying the package)", err)
			}
			moved, _, err := dst.Package(ctx, name, client.At{})
			if err != nil {
				return err
			}
			out.Records, out.Identities, out.Attestations = res.Records, res.Identities, res.Attestations
			out.Content, out.Skipped, out.Erased, out.Status = res.Content, res.Skipped, res.Erased, moved.Status
			return g.print(out, func(w io.Writer) {
				fmt.Fprintf(w, "moved %s to %s: %d records, %d identities, %d attestations, %d contents imported", name, v.Origin(),
					res.Records, res.Identities, res.Attestations, res.Content)
				if res.Skipped > 0 {
					fmt.Fprintf(w, " (%d held there already)", res.Skipped)
				}
				fmt.Fprintf(w, "; it is %s there\n", moved.Status)
				if res.Erased > 0 {
					fmt.Fprintf(w, "%d attestations were erased here and were not carried\n", res.Erased)
				}
			})
		},
	}
	cmd.Flags().StringVar(&toURL, "to", "", "the destination registry's URL")
	cmd.Flags().StringVar(&toKey, "to-key", "", "the destination's log verifier key, or a file holding it")
	cmd.Flags().StringVar(&tmp, "tmp", "", "directory for content on its way (default: the system's)")
	return cmd
}

// follow returns the client for the registry that holds package name now:
// c, or, when the package moved, the registry its owners' move record
// names, proven (see client.Resolve). It says so on stderr.
func (g *globals) follow(cmd *cobra.Command, c *client.Client, name string, complete bool) (*client.Client, error) {
	to, _, _, err := c.Resolve(cmd.Context(), name, complete)
	if err != nil {
		return nil, err
	}
	if to != c {
		fmt.Fprintf(g.errOut, "%s moved from %s to %s; answering from there\n", name, c.Origin(), to.Origin())
	}
	return to, nil
}
