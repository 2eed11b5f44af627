package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/keys"
)

func newKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Create and inspect signing keys"}
	var out, typ string
	gen := &cobra.Command{
		Use:   "generate --out FILE",
		Short: "Generate a signing key",
		Long: `Generate a private key, written to FILE (PEM PKCS#8, mode 0600), and its public
key, written to FILE.pub (PEM PKIX). Prints the key ID, sha256:<hex of the
SHA-256 of the public key's DER encoding>.`,
		Example: `  vouch key generate --out alice.key
  vouch key generate --out lab.key --type ecdsa-p256`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			t, err := keys.ParseType(typ)
			if err != nil {
				return err
			}
			k, err := keys.Generate(t)
			if err != nil {
				return err
			}
			if err := keys.WriteFiles(out, k); err != nil {
				return err
			}
			return g.print(map[string]string{"keyId": k.ID(), "type": string(t), "private": out, "public": out + ".pub"},
				func(w io.Writer) { fmt.Fprintln(w, k.ID()) })
		},
	}
	gen.Flags().StringVar(&out, "out", "", "private key file to write (the public key goes to FILE.pub)")
	gen.Flags().StringVar(&typ, "type", "ed25519", "key type: ed25519 or ecdsa-p256")
	id := &cobra.Command{
		Use:   "id FILE",
		Short: "Print the key ID of a public or private key file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := keys.LoadPublic(args[0])
			if err != nil {
				return err
			}
			return g.print(map[string]string{"keyId": p.ID(), "type": string(p.Type())},
				func(w io.Writer) { fmt.Fprintln(w, p.ID()) })
		},
	}
	cmd.AddCommand(gen, id)
	return cmd
}
