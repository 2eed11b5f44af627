package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// profileFlags are the optional personal data of an identity, kept off the
// log.
type profileFlags struct{ name, email, org, url string }

func (p *profileFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&p.name, "name", "", "your name (kept off the log; erasable)")
	f.StringVar(&p.email, "email", "", "your email (kept off the log; erasable)")
	f.StringVar(&p.org, "org", "", "your organisation (kept off the log; erasable)")
	f.StringVar(&p.url, "url", "", "a URL about you (kept off the log; erasable)")
}

func (p *profileFlags) empty() bool { return *p == profileFlags{} }

// attach commits rec to the profile and returns the submission carrying it.
func (p *profileFlags) attach(rec *record.Record) (*client.Submission, error) {
	sub := &client.Submission{}
	if p.empty() {
		return sub, nil
	}
	prof, salt, commitment, err := client.NewProfile(api.Profile{Name: p.name, Email: p.email, Org: p.org, URL: p.url})
	if err != nil {
		return nil, err
	}
	rec.Commitment, sub.Profile, sub.Salt = commitment, prof, salt
	return sub, nil
}

func newIdentityCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "Register and manage identities (public keys)"}
	var prof profileFlags
	var ext externalSigning
	reg := &cobra.Command{
		Use:   "register",
		Short: "Register the --key's public key with the registry",
		Long: `Register a public key: logs an identity record signed by the key itself.
A key must be registered before it can own packages or sign records.

--key takes vouch key generate's keys, cosign's encrypted keys (cosign
generate-key-pair; the password from --password-file or COSIGN_PASSWORD) and
OpenSSH Ed25519 and ECDSA P-256 keys (ssh-keygen -t ed25519).

For a key held elsewhere (a KMS, an HSM), register in two steps: --public-key
FILE --print-signing-input writes the exact bytes to sign (the DSSE
pre-authentication encoding of the identity record) to stdout; sign them with
the key (Ed25519: the bytes; ECDSA P-256: SHA-256 of the bytes, ASN.1 DER
signature, raw or base64), then submit with --public-key FILE --signing-input
FILE --signature FILE.

A profile (--name, --email, --org, --url) is optional. It never enters the log:
the log holds only a salted commitment to it, and the profile and salt are kept
off the log, where "vouch admin erase" can remove them without breaking any
proof.`,
		Example: `  vouch identity register --key alice.key
  vouch identity register --key alice.key --name "Alice Example" --org "Acme"
  vouch identity register --key cosign.key --password-file cosign.pass
  vouch identity register --key ~/.ssh/id_ed25519
  vouch identity register --public-key kms.pub --print-signing-input > to-sign.bin
  vouch identity register --public-key kms.pub --signing-input to-sign.bin --signature to-sign.sig`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ext.publicKey != "" || ext.print || ext.signature != "" || ext.input != "" {
				if !prof.empty() {
					return errors.New("a key signing elsewhere registers without a profile (--name, --email, --org, --url): the profile's salt would have to travel with the signing input")
				}
				return ext.run(cmd, g)
			}
			k, err := g.signer()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			rec := &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64(), Time: now()}
			sub, err := prof.attach(rec)
			if err != nil {
				return err
			}
			if sub.Envelope, err = record.SignRecord(rec, k); err != nil {
				return err
			}
			rc, err := c.Submit(cmd.Context(), sub, true)
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
	prof.add(reg)
	reg.Flags().StringVar(&ext.publicKey, "public-key", "", "the public key of a key held elsewhere (PEM, or an OpenSSH .pub line)")
	reg.Flags().BoolVar(&ext.print, "print-signing-input", false, "write the bytes the --public-key's key must sign to stdout")
	reg.Flags().StringVar(&ext.input, "signing-input", "", "the bytes --print-signing-input wrote")
	reg.Flags().StringVar(&ext.signature, "signature", "", "the signature over the signing input (raw or base64)")
	show := &cobra.Command{
		Use:   "show KEYID|KEYFILE",
		Short: "Show a registered identity",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if !keys.ValidID(id) {
				p, err := keys.LoadPublic(id)
				if err != nil {
					return fmt.Errorf("%q is neither a key ID nor a key file", id)
				}
				id = p.ID()
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ident, err := c.Identity(cmd.Context(), id, client.At{})
			if err != nil {
				return err
			}
			return g.print(ident, func(w io.Writer) {
				fmt.Fprintf(w, "%s  %s (registered at index %d)\n", ident.KeyID, ident.Status, ident.Since)
				if ident.Principal != ident.KeyID {
					fmt.Fprintf(w, "principal  %s (rotated from)\n", ident.Principal)
				}
				if ident.RotatedTo != "" {
					fmt.Fprintf(w, "rotated to %s at index %d\n", ident.RotatedTo, ident.Until)
				}
				switch {
				case ident.Profile != nil:
					b, _ := json.Marshal(ident.Profile)
					fmt.Fprintf(w, "profile    %s (off the log)\n", b)
				case ident.Erased:
					fmt.Fprintln(w, "profile    erased")
				}
			})
		},
	}
	var newKey string
	var rotProf profileFlags
	rotate := &cobra.Command{
		Use:   "rotate --key OLD.key --new-key NEW.key",
		Short: "Replace a key: the new key takes over everything the old one owned",
		Long: `Rotate a key: logs an identity-rotate record signed by both the old and the
new key. The new key acts for everything the old key owned or was granted; the
old key can no longer sign. Signatures the old key made before stay valid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			old, err := g.signer()
			if err != nil {
				return err
			}
			if newKey == "" {
				return errors.New("--new-key FILE is required (create it with vouch key generate)")
			}
			nk, err := g.loadKey(newKey, "--new-key")
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			rec := &record.Record{Type: record.TypeIdentityRotate, KeyID: old.ID(), PublicKey: nk.Public().Base64(), Time: now()}
			sub, err := rotProf.attach(rec)
			if err != nil {
				return err
			}
			if sub.Envelope, err = record.SignRecord(rec, old, nk); err != nil {
				return err
			}
			rc, err := c.Submit(cmd.Context(), sub, true)
			if err != nil {
				return err
			}
			return g.print(toReceiptJSON(rc), func(w io.Writer) {
				fmt.Fprintf(w, "rotated %s to %s at log index %d\n", old.ID(), nk.ID(), rc.Index)
			})
		},
	}
	rotate.Flags().StringVar(&newKey, "new-key", "", "the new private key file")
	rotProf.add(rotate)
	var reason string
	revoke := &cobra.Command{
		Use:   "revoke --key KEY",
		Short: "Revoke a key: its later signatures are refused",
		Long:  "Revoke a key (signed by the key itself). Records and statements it signed before stay valid; anything it signs later is refused.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := g.signer()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			rc, err := submitRecord(cmd.Context(), c, &record.Record{Type: record.TypeIdentityRevoke, KeyID: k.ID(), Reason: reason}, nil, k)
			if err != nil {
				return err
			}
			return g.print(toReceiptJSON(rc), func(w io.Writer) { fmt.Fprintf(w, "revoked %s at log index %d\n", k.ID(), rc.Index) })
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "reason code, e.g. compromised, retired")
	cmd.AddCommand(reg, show, rotate, revoke)
	return cmd
}
