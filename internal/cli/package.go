package cli

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

func newPackageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "package", Short: "Create packages and manage who may change them"}
	var owners []string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a package",
		Long: `Create a package owned by the signing key and any --owner keys. Names are
lower-case segments of [a-z0-9][a-z0-9._-]* joined by "/", at most 200 bytes.`,
		Example: `  vouch package create acme/widget --key alice.key
  vouch package create acme/widget --key alice.key --owner sha256:0b1c...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := record.ParseRef(args[0])
			if err != nil {
				return err
			}
			if version != "" {
				return fmt.Errorf("package create takes a NAME, not NAME@VERSION")
			}
			k, err := g.signer()
			if err != nil {
				return err
			}
			all := []string{k.ID()}
			for _, o := range owners {
				if !keys.ValidID(o) {
					return fmt.Errorf("--owner %q is not a key ID (sha256:<hex>; see vouch key id FILE)", o)
				}
				if !slices.Contains(all, o) {
					all = append(all, o)
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			rc, err := submitRecord(cmd.Context(), c, &record.Record{Type: record.TypeCreate, Package: name, Owners: all}, nil, k)
			if err != nil {
				return err
			}
			rj := toReceiptJSON(rc)
			rj.Package = name
			return g.print(rj, func(w io.Writer) {
				fmt.Fprintf(w, "created %s at log index %d, owners %v\n", name, rc.Index, all)
			})
		},
	}
	create.Flags().StringArrayVar(&owners, "owner", nil, "key ID of a further owner (repeatable)")
	var to string
	var perms []string
	grant := &cobra.Command{
		Use:     "grant NAME --to KEYID --perm publish[,yank,delete,grant]",
		Short:   "Let another key publish, yank, delete or grant on a package",
		Example: `  vouch package grant acme/widget --to sha256:77f9... --perm publish,yank --key alice.key`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return grantOrRevoke(cmd, g, args[0], record.TypeGrant, to, perms)
		},
	}
	grant.Flags().StringVar(&to, "to", "", "key ID to grant to")
	grant.Flags().StringSliceVar(&perms, "perm", []string{record.PermPublish}, "permissions: publish, yank, delete, grant")
	var from string
	revoke := &cobra.Command{
		Use:   "revoke NAME --from KEYID",
		Short: "Take back every permission granted to a key on a package",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return grantOrRevoke(cmd, g, args[0], record.TypeRevoke, from, nil)
		},
	}
	revoke.Flags().StringVar(&from, "from", "", "key ID to revoke")
	show := newShowCmd(g)
	show.Use = "show NAME"
	cmd.AddCommand(create, grant, revoke, show, newMoveCmd(g))
	return cmd
}

func grantOrRevoke(cmd *cobra.Command, g *globals, ref, typ, keyID string, perms []string) error {
	name, version, err := record.ParseRef(ref)
	if err != nil {
		return err
	}
	if version != "" {
		return fmt.Errorf("grants are per package: give NAME, not NAME@VERSION")
	}
	if !keys.ValidID(keyID) {
		return fmt.Errorf("%q is not a key ID (sha256:<hex>; see vouch key id FILE)", keyID)
	}
	signers, c, err := g.signedClient()
	if err != nil {
		return err
	}
	rc, err := writeChained(cmd.Context(), c, record.ChainPackage, name, "", func(prev string) *record.Record {
		return &record.Record{Type: typ, Package: name, Prev: prev, KeyID: keyID, Permissions: perms}
	}, signers...)
	if err != nil {
		return err
	}
	rj := toReceiptJSON(rc)
	rj.Package = name
	return g.print(rj, func(w io.Writer) {
		fmt.Fprintf(w, "%s on %s for %s: done at log index %d\n", typ, name, keyID, rc.Index)
	})
}
