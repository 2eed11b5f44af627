package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/policy"
	"github.com/vouchdev/vouch/record"
)

func newAttestCmd(g *globals) *cobra.Command {
	var ptype, predFile, envFile, bundleFile string
	var signerHints []string
	cmd := &cobra.Command{
		Use:   "attest NAME@VERSION --predicate-type URI --predicate FILE | attest --envelope FILE | attest --bundle FILE",
		Short: "Sign a statement about a release, or submit one signed elsewhere",
		Long: `Attest to a release: build an in-toto Statement v1 whose subject is the
release's content, with the given predicate, sign it with every --key (repeat
--key for several signers) and log it. The statement itself is kept off the log
(erasable); the log holds its digest, signatures, subjects and predicate type.

With --envelope, submit a DSSE envelope made by another tool (in-toto, cosign,
witness, go-securesystemslib) unchanged. If its signatures are not labelled
with Vouch key IDs, name the registered signing keys with --signer.

With --bundle, submit a Sigstore bundle (versions 0.1 to 0.3, or the
.sigstore.json files cosign and gh write: npm provenance, GitHub artifact
attestations, cosign attest --bundle, cosign sign-blob --bundle) or a PyPI
PEP 740 attestation, unchanged. One signed with a short-lived certificate
(keyless) is verified by the registry against its trusted roots; its signer is
the certificate's identity, kept off the log. One signed with a key needs the
key registered, as for --envelope.

Vouch gives typed fields to SLSA provenance (https://slsa.dev/provenance/v1)
and to its own predicates (see docs/attestations.md):
  https://vouch.dev/attestations/approval/v1            {"decision":"approved","scope":"qa"}
  https://vouch.dev/attestations/certification/v1       {"program":"FIPS 140-3","certificate":"#4711"}
  https://vouch.dev/attestations/distribution-rights/v1 {"license":"Apache-2.0","territories":["EU"]}`,
		Example: `  vouch attest acme/widget@1.0.0 --predicate-type https://slsa.dev/provenance/v1 --predicate prov.json --key builder.key
  vouch attest acme/widget@1.0.0 --predicate-type https://vouch.dev/attestations/approval/v1 --predicate qa.json --key qa1.key --key qa2.key
  vouch attest --envelope made-by-cosign.dsse.json --signer sha256:77f9...
  vouch attest --bundle widget-1.0.0.tgz.sigstore.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.client()
			if err != nil {
				return err
			}
			var env *dsse.Envelope
			var bundle []byte
			switch {
			case bundleFile != "":
				if len(args) > 0 || ptype != "" || predFile != "" || envFile != "" {
					return errors.New("--bundle submits a bundle as is: no NAME@VERSION, --predicate-type, --predicate or --envelope")
				}
				if bundle, err = os.ReadFile(bundleFile); err != nil {
					return err
				}
				if err := checkKind(bundleFile, "--bundle", bundle, kindBundle, kindPEP740); err != nil {
					return err
				}
			case envFile != "":
				if len(args) > 0 || ptype != "" || predFile != "" {
					return errors.New("--envelope submits an envelope as is: no NAME@VERSION, --predicate-type or --predicate")
				}
				b, err := os.ReadFile(envFile)
				if err != nil {
					return err
				}
				if err := checkKind(envFile, "--envelope", b, kindEnvelope); err != nil {
					return err
				}
				env = &dsse.Envelope{}
				if err := json.Unmarshal(b, env); err != nil {
					return fmt.Errorf("%s is not a DSSE envelope: %w", envFile, err)
				}
			default:
				if len(args) != 1 || ptype == "" || predFile == "" {
					return errors.New("give NAME@VERSION, --predicate-type and --predicate (or --envelope FILE, or --bundle FILE)")
				}
				name, version, err := parseRelease(args[0])
				if err != nil {
					return err
				}
				signers, err := g.signers()
				if err != nil {
					return err
				}
				pred, err := os.ReadFile(predFile)
				if err != nil {
					return err
				}
				if k := sniffFile(pred); k != kindProvenance && whereItGoes[k] != "" {
					return kindError(predFile, "--predicate", k, "a predicate (a JSON object)")
				}
				if !json.Valid(pred) || !strings.HasPrefix(strings.TrimSpace(string(pred)), "{") {
					return fmt.Errorf("%s must hold a JSON object", predFile)
				}
				rr, _, err := c.Release(ctx, name, version, client.At{})
				if err != nil {
					return err
				}
				if rr.Digest == "" {
					return fmt.Errorf("%s@%s is %s: its content digest is not shown", name, version, rr.Status)
				}
				stmt := map[string]any{
					"_type":         "https://in-toto.io/Statement/v1",
					"subject":       []any{map[string]any{"name": name + "@" + version, "digest": map[string]string{"sha256": strings.TrimPrefix(rr.Digest, "sha256:")}}},
					"predicateType": ptype,
					"predicate":     json.RawMessage(pred),
				}
				payload, err := json.Marshal(stmt)
				if err != nil {
					return err
				}
				if env, err = record.Sign(record.InTotoPayloadType, payload, signers...); err != nil {
					return err
				}
			}
			rc, err := c.Submit(ctx, &client.Submission{Envelope: env, Bundle: bundle, Signers: signerHints}, true)
			if err != nil {
				return err
			}
			rj := toReceiptJSON(rc)
			return g.print(rj, func(w io.Writer) {
				fmt.Fprintf(w, "attestation logged at index %d (proven in checkpoint of size %d)\n", rc.Index, rj.TreeSize)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&ptype, "predicate-type", "", "predicate type URI")
	f.StringVar(&predFile, "predicate", "", "file holding the predicate (a JSON object)")
	f.StringVar(&envFile, "envelope", "", "submit this DSSE envelope as is")
	f.StringVar(&bundleFile, "bundle", "", "submit this Sigstore bundle (.sigstore.json, any version) or PEP 740 attestation as is")
	f.StringArrayVar(&signerHints, "signer", nil, "key ID of a registered key that signed the envelope (repeatable)")
	return cmd
}

func newQueryCmd(g *globals) *cobra.Command {
	var p client.QueryParams
	var at uint64
	var asof, since, until, include string
	var all, noComplete bool
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Ask one question over every signature in the log",
		Long: `Query every entry of the log, records and attestations alike, as a timeline
(newest first unless --order asc). Filters combine; --where takes a CEL
expression over index, time, kind, type, package, version, signers, subjects,
predicateType, states, predicate, fields (typed predicate fields) and
identities (keyless signers: issuer, subject, certificate extensions), e.g.
  --where 'fields.builder == "https://ci.example.com/builder"'
  --where 'identities.exists(i, i.subject.startsWith("https://github.com/acme/"))'
--identity selects keyless attestations by signer: "SUBJECT" or "ISSUER
SUBJECT", where a * in the subject matches any run of characters.
Every result carries its log index, so it can be proven (vouch log entry N).

Two questions are proven complete by the registry's verifiable index, whose
root every checkpoint commits to: --subject DIGEST --kind attestation (every
attestation about that content) and --signer KEYID alone (every entry it
signed). For them, a page that leaves out any entry the index lists is
refused. The answer is then as of a checkpoint (--at rounds up to the first
that covers it).`,
		Example: `  vouch query --package acme/widget
  vouch query --subject sha256:2cf2... --kind attestation
  vouch query --signer sha256:77f9... --since 2026-11-01T00:00:00Z
  vouch query --identity 'https://token.actions.githubusercontent.com https://github.com/acme/*'
  vouch query --predicate-type https://vouch.dev/attestations/approval/v1 --where 'fields.decision == "approved"'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			p.At = client.At{Size: at, Include: include}
			for _, tp := range []struct {
				s   string
				dst *time.Time
				n   string
			}{{asof, &p.At.Time, "--asof"}, {since, &p.Since, "--since"}, {until, &p.Until, "--until"}} {
				if tp.s != "" {
					if *tp.dst, err = time.Parse(time.RFC3339Nano, tp.s); err != nil {
						return fmt.Errorf("%s: want an RFC 3339 time", tp.n)
					}
				}
			}
			// The two questions the verifiable index answers whole are
			// proven complete: every attestation about a content digest,
			// and every entry a key signed.
			plain := p.Package == "" && p.PredicateType == "" && p.Type == "" && p.State == "" && p.Where == "" &&
				p.From == 0 && p.To == 0 && p.Since.IsZero() && p.Until.IsZero() && (include == "" || include == "all")
			p.At.Complete = !noComplete && plain &&
				(p.Subject != "" && p.Signer == "" && p.Kind == "attestation" || p.Signer != "" && p.Subject == "" && p.Kind == "")
			c, err := g.client()
			if err != nil {
				return err
			}
			var items []api.QueryItem
			var last *api.QueryResponse
			for {
				qr, _, err := c.Query(cmd.Context(), &p)
				if err != nil {
					return err
				}
				items, last = append(items, qr.Items...), qr
				if !all || qr.Next == "" {
					break
				}
				p.Cursor = qr.Next
			}
			out := api.QueryResponse{Items: items, Next: last.Next, TreeSize: last.TreeSize, Checkpoint: last.Checkpoint}
			return g.print(out, func(w io.Writer) { printTimeline(w, &out) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Package, "package", "", "entries about this package")
	f.StringVar(&p.Version, "version", "", "entries about this version (with --package)")
	f.StringVar(&p.Subject, "subject", "", "entries about this content digest (sha256:<hex>)")
	f.StringVar(&p.Signer, "signer", "", "entries signed by this key ID")
	f.StringVar(&p.Identity, "identity", "", `keyless attestations by this signer: "SUBJECT" or "ISSUER SUBJECT" (* matches any run of characters)`)
	f.StringVar(&p.PredicateType, "predicate-type", "", "attestations with this predicate type")
	f.StringVar(&p.Kind, "kind", "", "record or attestation")
	f.StringVar(&p.Type, "type", "", "record type (create, release, yank, ...) or attestation")
	f.StringVar(&p.State, "state", "", "entries about releases in this state")
	f.StringVar(&p.Where, "where", "", "CEL expression every result must satisfy")
	f.StringVar(&p.Order, "order", "desc", "desc (newest first) or asc")
	f.StringVar(&p.Cursor, "cursor", "", "continue from a previous page")
	f.IntVar(&p.Limit, "limit", 50, "results per page (1-1000)")
	f.BoolVar(&p.Predicate, "predicate", false, "include each attestation's predicate")
	f.BoolVar(&all, "all", false, "fetch every page")
	f.BoolVar(&noComplete, "no-complete", false, "do not ask for the index's proof that the answer is complete")
	f.Uint64Var(&p.From, "from", 0, "first log index")
	f.Uint64Var(&p.To, "to", 0, "log index to stop before")
	f.StringVar(&since, "since", "", "entries logged at or after this time")
	f.StringVar(&until, "until", "", "entries logged before this time")
	f.Uint64Var(&at, "at", 0, "answer as of this tree size")
	f.StringVar(&asof, "asof", "", "answer as of this time")
	f.StringVar(&include, "include", "", "also show entries about releases in these states: staged,yanked,deleted,tombstoned,banished or all")
	return cmd
}

func printTimeline(w io.Writer, qr *api.QueryResponse) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tTIME\tWHAT\tABOUT\tSIGNED BY\tDETAIL")
	for _, it := range qr.Items {
		what, about, detail := it.Type, it.Package, ""
		if it.Version != "" {
			about += "@" + it.Version
		}
		if it.Kind == string(record.KindAttestation) {
			what = "attest " + shortType(it.PredicateType)
			var rs []string
			for _, r := range it.Releases {
				rs = append(rs, r.Package+"@"+r.Version+" ("+r.Status+")")
			}
			about = strings.Join(rs, ", ")
			for k, v := range it.Fields {
				if s := fmt.Sprint(v); s != "" && s != "[]" {
					detail += k + "=" + s + " "
				}
			}
			if it.Erased {
				detail = "(statement erased)"
			}
		} else if len(it.Releases) == 1 {
			detail = it.Releases[0].Status
		}
		var by []string
		for _, s := range it.Signers {
			by = append(by, short(s))
		}
		for _, id := range it.Identities {
			by = append(by, id.Subject)
		}
		if it.Keyless && len(it.Identities) == 0 {
			by = append(by, "(keyless, erased)")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", it.Index, it.Time.Format(time.RFC3339), what, about, strings.Join(by, ","), strings.TrimSpace(detail))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d results as of tree size %d (checkpoint verified)", len(qr.Items), qr.TreeSize)
	if qr.Next != "" {
		fmt.Fprintf(w, "; more with --cursor %s", qr.Next)
	}
	fmt.Fprintln(w)
}

func shortType(u string) string {
	if i := strings.LastIndex(strings.TrimSuffix(u, "/v1"), "/"); i >= 0 {
		return strings.TrimSuffix(u, "/v1")[i+1:]
	}
	return u
}

func newVerifyCmd(g *globals) *cobra.Command {
	var file, policyFile string
	var at uint64
	var noComplete bool
	cmd := &cobra.Command{
		Use:   "verify NAME@VERSION [--file ARTIFACT] [--policy FILE] [--at N]",
		Short: "Verify a release, every statement about it, and a policy",
		Long: `Verify a release: fetch it and every statement about it, check every
signature, every inclusion proof and the checkpoint against the trusted log key
(and its consistency with the checkpoint this client holds), check the artifact's
digest if --file is given, and evaluate the policy (default: the release is
published). The verdict lists each rule with pass or fail and why. Exit status
0 only when everything passes.

The registry's verifiable index proves the evidence complete: the release's
state and history, and the list of every attestation about its content, are
checked against the index root the checkpoint commits to, so an answer that
hides a yank, a tombstone or one attestation fails verification.

A policy is a YAML file of named CEL rules; see docs/policies.md and the
examples in docs/policies/.

Keyless attestations (Sigstore bundles) count as verified only when their
bundle verifies against a --sigstore-trusted-root given here (the client checks
them itself; it does not take the registry's word).`,
		Example: `  vouch verify acme/widget@1.0.0 --file widget-1.0.0.tgz --policy docs/policies/regulated.yaml
  vouch verify acme/widget@1.0.0 --policy docs/policies/keyless-provenance.yaml --sigstore-trusted-root trusted_root.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := parseRelease(args[0])
			if err != nil {
				return err
			}
			pol, err := policy.Parse([]byte(policy.Default))
			if err != nil {
				return err
			}
			if policyFile != "" {
				if b, err := os.ReadFile(policyFile); err == nil {
					if k := sniffFile(b); k != kindPolicy && whereItGoes[k] != "" {
						return kindError(policyFile, "--policy", k, kindPolicy)
					}
				}
				if pol, err = policy.Load(policyFile); err != nil {
					return err
				}
			}
			in := &policy.Input{}
			if file != "" {
				if in.ArtifactDigest, _, err = client.DigestFile(file); err != nil {
					return err
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if at == 0 {
				if c, err = g.follow(cmd, c, name, !noComplete); err != nil {
					return fmt.Errorf("verification failed: %w", err)
				}
			}
			if in.Evidence, err = c.Gather(cmd.Context(), name, version, client.At{Size: at, Complete: !noComplete}); err != nil {
				return fmt.Errorf("verification failed: %w", err)
			}
			v := pol.Evaluate(in)
			out := map[string]any{"release": name + "@" + version, "status": in.Evidence.Release.Status,
				"treeSize": in.Evidence.Checkpoint.Size, "attestations": len(in.Evidence.Attestations), "verdict": v}
			if err := g.print(out, func(w io.Writer) { printVerdict(w, name, version, in.Evidence, v) }); err != nil {
				return err
			}
			if !v.Pass {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "the artifact you have: its digest must be the release's")
	cmd.Flags().StringVar(&policyFile, "policy", "", "policy file (YAML)")
	cmd.Flags().Uint64Var(&at, "at", 0, "verify as of this tree size (rounded up to the first checkpoint that covers it)")
	cmd.Flags().BoolVar(&noComplete, "no-complete", false, "do not ask for the index's proof that the evidence is complete")
	cmd.Flags().StringArrayVar(&g.trustedRoots, "sigstore-trusted-root", nil, "a Sigstore trusted_root.json to verify keyless attestations against (repeatable)")
	return cmd
}

func printVerdict(w io.Writer, name, version string, ev *client.Evidence, v *policy.Verdict) {
	erased, unverified := 0, 0
	for _, a := range ev.Attestations {
		if a.Erased {
			erased++
		} else if !a.Verified {
			unverified++
		}
	}
	fmt.Fprintf(w, "%s@%s is %s at tree size %d (checkpoint verified)\n", name, version, ev.Release.Status, ev.Checkpoint.Size)
	fmt.Fprintf(w, "verified %d history records and %d attestations", len(ev.Records), len(ev.Attestations)-erased-unverified)
	if erased > 0 {
		fmt.Fprintf(w, " (%d more with erased statements)", erased)
	}
	if unverified > 0 {
		fmt.Fprintf(w, " (%d more keyless ones whose certificates no --sigstore-trusted-root issued)", unverified)
	}
	fmt.Fprintln(w, ": signatures, inclusion proofs, consistency")
	for _, r := range v.Results {
		mark := "PASS"
		if !r.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %-8s %s: %s\n", mark, r.Kind, r.Name, r.Why)
	}
	if v.Pass {
		fmt.Fprintln(w, "verdict: PASS")
	} else {
		fmt.Fprintln(w, "verdict: FAIL")
	}
}
