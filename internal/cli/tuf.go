package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/logchain"
	"github.com/vouchdev/vouch/tufrepo"
)

// tufTargetFlags are the inputs the targets are made from.
type tufTargetFlags struct {
	data       string
	logs       string
	operators  []string
	sigstore   string
	noWitness  bool
	noSigstore bool
}

func (f *tufTargetFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "a registry's data directory (or a copy of its logs.json and operator.key.pub): the log targets and, unless --operator is given, the operator key")
	fl.StringVar(&f.logs, "logs", "", "a registry's logs.json (default: <data>/logs.json)")
	fl.StringSliceVar(&f.operators, "operator", nil, "an operator's public key file; repeatable (default: <data>/operator.key.pub)")
	fl.StringVar(&f.sigstore, "sigstore-trusted-root", "", "a Sigstore trusted root (trusted_root.json) to publish")
	fl.BoolVar(&f.noWitness, "remove-witness-policy", false, "stop publishing a witness policy")
	fl.BoolVar(&f.noSigstore, "remove-sigstore-trusted-root", false, "stop publishing a Sigstore trusted root")
}

// targets returns the target files the flags give (and, with --witness-policy,
// the policy), and the names to remove.
func (f *tufTargetFlags) targets(g *globals) (map[string][]byte, []string, error) {
	out := map[string][]byte{}
	var remove []string
	logs := f.logs
	if logs == "" && f.data != "" {
		logs = filepath.Join(f.data, logchain.FileName)
	}
	if logs != "" {
		c, _, err := logchain.Load(logs)
		if err != nil {
			return nil, nil, err
		}
		out[tufrepo.TargetLogs] = c.Marshal()
		out[tufrepo.TargetLogVKey] = []byte(c.Current().VKey + "\n")
	}
	ops := f.operators
	if len(ops) == 0 && f.data != "" {
		ops = []string{filepath.Join(f.data, "operator.key.pub")}
	}
	if len(ops) > 0 {
		var pubs []*keys.PublicKey
		for _, p := range ops {
			k, err := keys.LoadPublic(p)
			if err != nil {
				return nil, nil, fmt.Errorf("--operator: %w", err)
			}
			pubs = append(pubs, k)
		}
		out[tufrepo.TargetOperators] = tufrepo.MarshalOperators(pubs...)
	}
	if g.witnessPolicy != "" {
		b, err := os.ReadFile(g.witnessPolicy)
		if err != nil {
			return nil, nil, err
		}
		if _, err := g.policy(); err != nil {
			return nil, nil, err
		}
		out[tufrepo.TargetWitnessPolicy] = b
	}
	if f.noWitness {
		remove = append(remove, tufrepo.TargetWitnessPolicy)
	}
	if f.sigstore != "" {
		b, err := os.ReadFile(f.sigstore)
		if err != nil {
			return nil, nil, err
		}
		out[tufrepo.TargetSigstoreRoot] = b
	}
	if f.noSigstore {
		remove = append(remove, tufrepo.TargetSigstoreRoot)
	}
	return out, remove, nil
}

// publishIfOnline publishes snapshot and timestamp when the online key is
// here, and says what to do otherwise.
func publishIfOnline(g *globals, r *tufrepo.Repo) error {
	_, err := r.Publish(false)
	var mk *tufrepo.MissingKeysError
	if errors.As(err, &mk) {
		fmt.Fprintf(g.errOut, "signed; the online key is not here: copy %s to the server's TUF directory, whose refresher publishes a new snapshot and timestamp within a minute\n",
			filepath.Join(r.Dir, tufrepo.RepositoryDir))
		return nil
	}
	return err
}

func newAdminTUFCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tuf",
		Short: "Make and sign the registry's TUF repository (on the operators' machines)",
		Long: `The registry publishes its trust material (log key, logs, operator keys,
witness policy, Sigstore trusted root) as a TUF repository under /tuf/.
Root and targets keys are offline keys: these commands run where they are
kept, in a repository directory (--repo) laid out as keys/, targets/ and
repository/. The server keeps only keys/online.key (snapshot and timestamp)
and a copy of repository/. See docs/trust.md for the key ceremony.`,
	}
	var repo string
	cmd.PersistentFlags().StringVar(&repo, "repo", "./vouch-tuf", "the TUF repository directory")

	var tf tufTargetFlags
	var rootKeys, rootThreshold int
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Make the keys, the first root and the first targets",
		Example: `  vouch admin tuf init --repo ./vouch-tuf --data ./vouch-data --root-keys 3 --root-threshold 2
  # then copy vouch-tuf/keys/online.key and vouch-tuf/repository/ to <data>/tuf/ on the server`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			targets, _, err := tf.targets(g)
			if err != nil {
				return err
			}
			if targets[tufrepo.TargetLogs] == nil {
				return errors.New("the first targets need the registry's logs: pass --data DIR (its data directory) or --logs FILE")
			}
			r := tufrepo.Open(repo)
			if err := r.Init(tufrepo.InitOptions{RootKeys: rootKeys, RootThreshold: rootThreshold, Targets: targets}); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "made the TUF repository %s: root version 1 in %s\n", repo, filepath.Join(repo, tufrepo.RepositoryDir, "1.root.json"))
			fmt.Fprintf(g.out, "keep keys/root-*.key and keys/targets-*.key offline; give the server keys/online.key and repository/\n")
			return nil
		},
	}
	tf.add(initCmd)
	initCmd.Flags().IntVar(&rootKeys, "root-keys", 1, "how many root keys to make (one per key holder)")
	initCmd.Flags().IntVar(&rootThreshold, "root-threshold", 1, "how many root keys must sign a new root")

	var sf tufTargetFlags
	signCmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign new targets: after the logs, operators or witness policy changed, or before they expire",
		Long: `Sign a new version of targets.json listing the files in <repo>/targets/,
after updating them from the flags (a data directory's logs.json after a log
key rotation, operator public keys, --witness-policy, a Sigstore trusted
root). Targets expire after half a year: sign again before then.`,
		Example: `  vouch admin tuf sign --repo ./vouch-tuf --data ./vouch-data
  vouch admin tuf sign --repo ./vouch-tuf --operator alice.pub --operator bob.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := tufrepo.Open(repo)
			targets, remove, err := sf.targets(g)
			if err != nil {
				return err
			}
			for name, b := range targets {
				if err := r.SetTarget(name, b); err != nil {
					return err
				}
			}
			for _, name := range remove {
				if err := r.RemoveTarget(name); err != nil {
					return err
				}
			}
			if err := r.SignTargets(); err != nil {
				return err
			}
			return publishIfOnline(g, r)
		},
	}
	sf.add(signCmd)

	var role string
	var n, threshold int
	rotateCmd := &cobra.Command{
		Use:   "rotate --role ROLE",
		Short: "Replace a role's keys with new ones, in a new root version",
		Long: `Replace the keys of a role (root, targets, or the online key shared by
snapshot and timestamp) with new ones. The new root is signed by the current
root keys (and, for root, by the new ones too); clients follow it from the
root they trust. Old key files move to keys/retired/.`,
		Example: `  vouch admin tuf rotate --repo ./vouch-tuf --role targets
  vouch admin tuf rotate --repo ./vouch-tuf --role root --keys 3 --threshold 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := tufrepo.Open(repo)
			if err := r.Rotate(role, n, threshold); err != nil {
				return err
			}
			root, err := r.Root()
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "rotated the %s keys: root version %d\n", role, root.Signed.Version)
			return publishIfOnline(g, r)
		},
	}
	rotateCmd.Flags().StringVar(&role, "role", "", "root, targets, snapshot or timestamp (the last two share the online key)")
	rotateCmd.Flags().IntVar(&n, "keys", 1, "how many new keys")
	rotateCmd.Flags().IntVar(&threshold, "threshold", 1, "how many of them must sign")

	publishCmd := &cobra.Command{
		Use:   "publish",
		Short: "Sign a new snapshot and timestamp with the online key, if due (the server does this on its own)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := tufrepo.Open(repo).Publish(false)
			return err
		},
	}
	cmd.AddCommand(initCmd, signCmd, rotateCmd, publishCmd)
	return cmd
}
