package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/tufclient"
)

func (g *globals) tufConfig() tufclient.Config {
	return tufclient.Config{Registry: g.registry, Home: client.DefaultHome()}
}

// tufTrust returns the registry's trust material through its pinned TUF
// root, or nil if no root is pinned for it.
func (g *globals) tufTrust() (*tufclient.Trust, error) {
	cfg := g.tufConfig()
	if !tufclient.Pinned(cfg) {
		return nil, nil
	}
	return tufclient.Update(cfg)
}

// trustJSON is what vouch trust init and show print.
type trustJSON struct {
	Registry      string    `json:"registry"`
	RootVersion   int64     `json:"rootVersion"`
	Expires       time.Time `json:"timestampExpires"`
	LogKey        string    `json:"logKey"`
	Logs          []string  `json:"logs"`
	Operators     []string  `json:"operators"`
	WitnessPolicy bool      `json:"witnessPolicy"`
	SigstoreRoot  bool      `json:"sigstoreTrustedRoot"`
}

func (g *globals) printTrust(t *tufclient.Trust) error {
	j := trustJSON{Registry: g.registry, RootVersion: t.RootVersion, Expires: t.Expires, LogKey: t.LogKey.Key(),
		WitnessPolicy: t.WitnessPolicy != nil, SigstoreRoot: t.SigstoreTrustedRoot != nil, Operators: []string{}}
	for _, l := range t.Logs.Logs {
		j.Logs = append(j.Logs, l.Origin)
	}
	if t.Operators != nil {
		j.Operators = t.Operators.KeyIDs()
	}
	return g.print(j, func(w io.Writer) {
		fmt.Fprintf(w, "registry %s: TUF root version %d, timestamp valid until %s\n", j.Registry, j.RootVersion, j.Expires.Format(time.RFC3339))
		fmt.Fprintf(w, "log key   %s\n", j.LogKey)
		for i, l := range t.Logs.Logs {
			how := "first log"
			if l.Continues != "" {
				how = fmt.Sprintf("continues %s from size %d", t.Logs.Logs[i-1].Origin, t.Links[i].Continues.Size)
			} else if i > 0 {
				how = "started afresh"
			}
			fmt.Fprintf(w, "log       %s (%s)\n", l.Origin, how)
		}
		for _, o := range j.Operators {
			fmt.Fprintf(w, "operator  %s\n", o)
		}
		if j.WitnessPolicy {
			fmt.Fprintf(w, "witnesses %d in the policy\n", len(t.WitnessPolicy.Witnesses()))
		}
		if j.SigstoreRoot {
			fmt.Fprintln(w, "sigstore  trusted root published")
		}
	})
}

func newTrustCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trust",
		Short: "Trust a registry through its TUF root: its log key, operators and witnesses",
		Long: `A registry publishes its trust material as a TUF repository under /tuf/: its
log key (and the logs it continues, across key rotations), its operator keys,
its witness policy. Pin its root once with "vouch trust init"; from then on
every command takes the log key, operators and witness policy from the
verified TUF targets, and follows rotations (VOUCH_LOG_KEY is not needed;
--log-key still overrides). See docs/trust.md.`,
	}
	var root string
	initCmd := &cobra.Command{
		Use:   "init --root ROOT.json",
		Short: "Pin a registry's TUF root and fetch its trust material",
		Long: `Pin a registry's TUF root (a root.json its operators handed you, e.g. the
N.root.json of their repository) for --registry, and fetch and verify its
targets. Pinning again replaces what was trusted before.`,
		Example: `  vouch trust init --registry http://127.0.0.1:8080 --root vouch-data/tuf/repository/1.root.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if root == "" {
				return errors.New("--root is required: the registry's root.json, from its operators")
			}
			b, err := os.ReadFile(root)
			if err != nil {
				return err
			}
			t, err := tufclient.Pin(g.tufConfig(), b)
			if err != nil {
				return err
			}
			return g.printTrust(t)
		},
	}
	initCmd.Flags().StringVar(&root, "root", "", "the registry's TUF root.json to pin")
	cmd.AddCommand(initCmd, &cobra.Command{
		Use:   "show",
		Short: "Refresh and show what the pinned TUF root leads to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := tufclient.Update(g.tufConfig())
			if err != nil {
				return err
			}
			return g.printTrust(t)
		},
	})
	return cmd
}
