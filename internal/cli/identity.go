package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/record"
)

func newIdentityCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "Register and manage identities (public keys)"}
	reg := &cobra.Command{
		Use:   "register",
		Short: "Register the --key's public key with the registry",
		Long: `Register a public key: logs an identity record signed by the key itself.
A key must be registered before it can own packages or sign records.`,
		Example: `  vouch identity register --key alice.key`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := g.signer()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			rc, err := submitRecord(cmd.Context(), c, &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, nil, k)
			if err != nil {
				return err
			}
			rj := toReceiptJSON(rc)
			rj.KeyID = k.ID()
			return g.print(rj, func(w io.Writer) {
				fmt.Fprintf(w, "registered %s at log index %d (proven in checkpoint of size %d)\n", k.ID(), rc.Index, rj.TreeSize)
			})
		},
	}
	cmd.AddCommand(reg)
	return cmd
}
