package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

func newAdminCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operator actions: tombstone, lift, banish, transfer, erase",
		Long: `Operator actions, signed with an operator key (--key; the registry's first
operator key is <data>/operator.key). Each is a record on the operator chain.`,
	}
	op := func(typ, short, long string, reasons []string) *cobra.Command {
		var reason, note string
		c := &cobra.Command{
			Use:   typ + " NAME[@VERSION]",
			Short: short,
			Long:  long,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				name, version, err := record.ParseRef(args[0])
				if err != nil {
					return err
				}
				signers, c, err := g.signedClient()
				if err != nil {
					return err
				}
				// Who may act comes first: a key that is not an
				// operator's learns that, not that its reason is wrong.
				if err := requireOperator(cmd.Context(), c, signers); err != nil {
					return err
				}
				if reasons != nil && !slices.Contains(reasons, reason) {
					return fmt.Errorf("--reason must be one of %v", reasons)
				}
				rc, err := writeChained(cmd.Context(), c, record.ChainOperator, name, note, func(prev string) *record.Record {
					return &record.Record{Type: typ, Prev: prev, Package: name, Version: version, Reason: reason}
				}, signers...)
				if err != nil {
					return err
				}
				rj := toReceiptJSON(rc)
				rj.Package, rj.Version = name, version
				return g.print(rj, func(w io.Writer) { fmt.Fprintf(w, "%s %s: done at log index %d\n", typ, args[0], rc.Index) })
			},
		}
		def := ""
		if typ != record.TypeLift {
			def = "legal"
			if typ == record.TypeTombstone {
				def = "integrity"
			}
		}
		c.Flags().StringVar(&reason, "reason", def, "reason code")
		c.Flags().StringVar(&note, "note", "", "a short explanation, kept off the log (erasable)")
		return c
	}
	var owners []string
	var reason, note string
	transfer := &cobra.Command{
		Use:   "transfer NAME --owner KEYID [--owner KEYID...]",
		Short: "Give a package new owners (e.g. after its owners lost their keys)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := record.ParseRef(args[0])
			if err != nil {
				return err
			}
			if len(owners) == 0 {
				return fmt.Errorf("at least one --owner is required")
			}
			for _, o := range owners {
				if !keys.ValidID(o) {
					return fmt.Errorf("--owner %q is not a key ID", o)
				}
			}
			signers, c, err := g.signedClient()
			if err != nil {
				return err
			}
			rc, err := writeChained(cmd.Context(), c, record.ChainOperator, name, note, func(prev string) *record.Record {
				return &record.Record{Type: record.TypeTransfer, Prev: prev, Package: name, Owners: owners, Reason: reason}
			}, signers...)
			if err != nil {
				return err
			}
			rj := toReceiptJSON(rc)
			rj.Package = name
			return g.print(rj, func(w io.Writer) { fmt.Fprintf(w, "transferred %s to %v at log index %d\n", name, owners, rc.Index) })
		},
	}
	transfer.Flags().StringArrayVar(&owners, "owner", nil, "key ID of a new owner (repeatable)")
	transfer.Flags().StringVar(&reason, "reason", "", "reason code, e.g. key-loss")
	transfer.Flags().StringVar(&note, "note", "", "a short explanation, kept off the log (erasable)")
	var eraseID, eraseKeyless string
	var eraseAtt int64
	erase := &cobra.Command{
		Use:   "erase --identity KEYID | --attestation INDEX",
		Short: "Erase personal data kept off the log",
		Long: `Erase off-log data, for instance on a GDPR request. --identity erases the
identity's profile and salt, the notes of records it signed and the statements
of attestations it signed; --attestation erases one attestation's statement
(and a keyless attestation's bundle and identity); --keyless "ISSUER SUBJECT"
erases the bundles, identities and statements of every keyless attestation
whose certificate names exactly that issuer and subject (as vouch query
--identity shows them). The log is untouched: every checkpoint, inclusion and
consistency proof still verifies, and reads show the items as erased. Signed
with an operator key.`,
		Example: `  vouch admin erase --identity sha256:77f9... --key operator.key
  vouch admin erase --attestation 12 --key operator.key
  vouch admin erase --keyless "https://github.com/login/oauth alice@example.com" --key operator.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &api.AdminRequest{Action: "erase"}
			switch {
			case eraseID != "" && eraseAtt < 0 && eraseKeyless == "":
				if !keys.ValidID(eraseID) {
					return fmt.Errorf("--identity %q is not a key ID (a keyless signer is named with --keyless \"ISSUER SUBJECT\")", eraseID)
				}
				req.Identity = eraseID
			case eraseID == "" && eraseAtt >= 0 && eraseKeyless == "":
				idx := uint64(eraseAtt)
				req.Attestation = &idx
			case eraseID == "" && eraseAtt < 0 && eraseKeyless != "":
				issuer, subject, ok := strings.Cut(eraseKeyless, " ")
				if !ok || issuer == "" || subject == "" || strings.Contains(subject, " ") {
					return fmt.Errorf("--keyless takes \"ISSUER SUBJECT\", exactly as the certificate names them")
				}
				req.Keyless = &api.CertIdentity{Issuer: issuer, Subject: subject}
			default:
				return fmt.Errorf("give exactly one of --identity, --attestation and --keyless")
			}
			signers, c, err := g.signedClient()
			if err != nil {
				return err
			}
			rep, err := c.Admin(cmd.Context(), req, signers...)
			if err != nil {
				return err
			}
			return g.print(rep, func(w io.Writer) {
				fmt.Fprintf(w, "erased %d profiles, %d notes, %d statements", rep.Profiles, rep.Notes, rep.Statements)
				if rep.Bundles > 0 {
					fmt.Fprintf(w, ", %d keyless bundles and identities", rep.Bundles)
				}
				fmt.Fprintln(w)
			})
		},
	}
	erase.Flags().StringVar(&eraseID, "identity", "", "key ID whose off-log data to erase")
	erase.Flags().Int64Var(&eraseAtt, "attestation", -1, "log index of an attestation whose statement to erase")
	erase.Flags().StringVar(&eraseKeyless, "keyless", "", `keyless signer whose bundles, identities and statements to erase: "ISSUER SUBJECT"`)
	cmd.AddCommand(newAdminTUFCmd(g))
	cmd.AddCommand(
		erase,
		op(record.TypeTombstone, "Tombstone a release or a whole package",
			"Tombstone a release (NAME@VERSION) or a whole package (NAME) for an integrity or\nquality problem, malware or a legal hold. Its content answers 410 (451 for a\nlegal hold) until lifted.", state.TombstoneReasons),
		op(record.TypeLift, "Lift a tombstone", "Return a tombstoned release or package to the state before the tombstone.", nil),
		op(record.TypeBanish, "Banish a release or a whole package (terminal)", "Banish a release or a whole package: a legal take-down. The bytes and off-log\ndata are purged, content answers 451, and nothing ever leaves banished.", nil),
		transfer,
	)
	return cmd
}
