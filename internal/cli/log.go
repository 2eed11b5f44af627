package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

func newLogCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "log", Short: "Read and verify the registry's log"}
	cp := &cobra.Command{
		Use:   "checkpoint",
		Short: "Fetch, verify and remember the log's latest checkpoint",
		Long: `Fetch the latest checkpoint, check its signature against the trusted log key
and its consistency with the checkpoint this client verified before, and
remember it (under $VOUCH_HOME). An older or inconsistent checkpoint is
refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			cp, prev, err := c.Checkpoint(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(checkpointOut(cp, prev), func(w io.Writer) {
				fmt.Fprintf(w, "origin %s\nsize   %d\nroot   %s\n", cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Hash[:]))
				if prev != nil {
					fmt.Fprintf(w, "verified consistent with the checkpoint held before (size %d)\n", prev.Size)
				}
			})
		},
	}
	entry := &cobra.Command{
		Use:   "entry INDEX",
		Short: "Fetch one log entry and verify its inclusion",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			idx, err := strconv.ParseUint(args[0], 10, 63)
			if err != nil {
				return fmt.Errorf("INDEX must be a non-negative integer")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			e, err := c.Entry(cmd.Context(), idx)
			if err != nil {
				return err
			}
			out := map[string]any{"index": e.Index, "time": e.Time, "treeSize": e.Checkpoint.Size, "entry": json.RawMessage(e.Leaf)}
			return g.print(out, func(w io.Writer) { printEntry(w, e.Index, e.Leaf, e.Time, e.Checkpoint.Size) })
		},
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the log grew append-only since the checkpoint this client holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			held, latest, err := c.VerifyLog(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(checkpointOut(latest, held), func(w io.Writer) {
				if held == nil {
					fmt.Fprintf(w, "no checkpoint held before; now holding size %d (trust starts here)\n", latest.Size)
					return
				}
				fmt.Fprintf(w, "ok: the log at size %d is consistent with the held checkpoint of size %d\n", latest.Size, held.Size)
			})
		},
	}
	cmd.AddCommand(cp, entry, verify)
	return cmd
}

func checkpointOut(cp, prev *translog.Checkpoint) map[string]any {
	m := map[string]any{"origin": cp.Origin, "size": cp.Size, "rootHash": base64.StdEncoding.EncodeToString(cp.Hash[:]), "note": string(cp.Note)}
	if prev != nil {
		m["previousSize"] = prev.Size
	}
	return m
}

// printEntry writes a readable form of a log entry.
func printEntry(w io.Writer, idx uint64, leaf []byte, t time.Time, treeSize uint64) {
	fmt.Fprintf(w, "entry %d, logged %s, proven in tree of size %d\n", idx, t.Format(time.RFC3339), treeSize)
	e, err := record.ParseLeaf(leaf)
	if err != nil {
		fmt.Fprintf(w, "  (unparsable entry: %v)\n", err)
		return
	}
	if e.Import != nil {
		fmt.Fprintf(w, "  imported from %s, entry %d there (proven in its checkpoint of %s)\n", e.Import.Origin, e.Import.Index, e.Import.Origin)
		e = e.Inner
	}
	if e.Record != nil {
		var pretty map[string]any
		json.Unmarshal(e.Payload, &pretty)
		b, _ := json.MarshalIndent(pretty, "  ", "  ")
		fmt.Fprintf(w, "  record %s\n  %s\n", e.Record.Type, b)
		for _, s := range e.Envelope.Signatures {
			fmt.Fprintf(w, "  signed by %s\n", s.KeyID)
		}
		return
	}
	b, _ := json.MarshalIndent(e.Attestation, "  ", "  ")
	fmt.Fprintf(w, "  attestation\n  %s\n", b)
}
