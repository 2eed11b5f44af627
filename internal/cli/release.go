package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/record"
)

// parseRelease parses NAME@VERSION.
func parseRelease(s string) (string, string, error) {
	name, version, err := record.ParseRef(s)
	if err != nil {
		return "", "", err
	}
	if version == "" {
		return "", "", fmt.Errorf("%q: want NAME@VERSION", s)
	}
	return name, version, nil
}

func newPublishCmd(g *globals) *cobra.Command {
	var (
		staged    bool
		linkURL   string
		mediaType string
		digest    string
		size      int64
	)
	cmd := &cobra.Command{
		Use:   "publish NAME@VERSION [FILE]",
		Short: "Publish a release: upload its content (or link it) and log it",
		Long: `Publish a release. With FILE, the content is uploaded to the registry, which
verifies its digest; with --url, the content stays where it is and the registry
fetches and verifies it when the release is published.

--staged publishes to the test channel: the release is never "latest", is
hidden from default listings, and answers only to its exact version, until
"vouch promote". A staged release with --url may stay unverified.`,
		Example: `  vouch publish acme/widget@1.0.0 widget-1.0.0.tgz --key alice.key
  vouch publish acme/widget@1.1.0-rc.1 widget.tgz --staged --key alice.key
  vouch publish acme/widget@1.1.0 --url https://downloads.example.com/widget-1.1.0.tgz --key alice.key`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, version, err := parseRelease(args[0])
			if err != nil {
				return err
			}
			if (len(args) == 2) == (linkURL != "") {
				return errors.New("give either FILE or --url")
			}
			signers, c, err := g.signedClient()
			if err != nil {
				return err
			}
			if len(args) == 2 {
				if digest, size, err = client.DigestFile(args[1]); err != nil {
					return err
				}
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				err = c.UploadBlob(ctx, digest, f, size, g.progress("uploading", size))
				f.Close()
				if err != nil {
					return fmt.Errorf("uploading %s: %w", args[1], err)
				}
			} else if digest == "" {
				if digest, size, err = digestURL(ctx, linkURL, g.progress("hashing "+linkURL, -1)); err != nil {
					return err
				}
			} else if size < 0 {
				return errors.New("--digest needs --size")
			}
			channel := record.ChannelPublished
			if staged {
				channel = record.ChannelStaged
			}
			rc, err := writeChained(ctx, c, record.ChainPackage, name, "", func(prev string) *record.Record {
				return &record.Record{Type: record.TypeRelease, Package: name, Prev: prev, Version: version,
					Digest: digest, Size: &size, MediaType: mediaType, Channel: channel, URL: linkURL}
			}, signers...)
			if err != nil {
				return err
			}
			rj := toReceiptJSON(rc)
			rj.Package, rj.Version = name, version
			return g.print(rj, func(w io.Writer) {
				fmt.Fprintf(w, "%s %s@%s (%s, %s) at log index %d\n", map[bool]string{true: "staged", false: "published"}[staged], name, version, digest, human(size), rc.Index)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&staged, "staged", false, "publish to the staged (test) channel")
	f.StringVar(&linkURL, "url", "", "link the content at this URL instead of uploading it")
	f.StringVar(&mediaType, "media-type", "application/octet-stream", "media type of the content")
	f.StringVar(&digest, "digest", "", "with --url: the content's sha256:<hex> digest (default: download and hash it)")
	f.Int64Var(&size, "size", -1, "with --digest: the content's size in bytes")
	return cmd
}

// digestURL downloads url to compute its digest and size.
func digestURL(ctx context.Context, u string, progress func(int64)) (string, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("fetching %s: HTTP %d", u, resp.StatusCode)
	}
	return client.Digest(client.ProgressReader(resp.Body, progress))
}

// newTransitionCmd builds promote, yank, unyank and delete.
func newTransitionCmd(g *globals, typ, short, long string, needReason bool) *cobra.Command {
	var reason, note string
	var asOperator bool
	cmd := &cobra.Command{
		Use:   typ + " NAME@VERSION",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := parseRelease(args[0])
			if err != nil {
				return err
			}
			signers, c, err := g.signedClient()
			if err != nil {
				return err
			}
			chain := record.ChainPackage
			actor := ""
			if asOperator {
				chain, actor = record.ChainOperator, record.ActorOperator
			}
			if !needReason && reason == "unspecified" {
				reason = ""
			}
			rc, err := writeChained(cmd.Context(), c, chain, name, note, func(prev string) *record.Record {
				return &record.Record{Type: typ, Actor: actor, Package: name, Prev: prev, Version: version, Reason: reason}
			}, signers...)
			if client.IsCode(err, "not_authorized") && !asOperator {
				if op := operatorAmong(cmd.Context(), c, signers); op != "" {
					return fmt.Errorf("%w\n%s is an operator key of this registry: to %s as the operator, add --as-operator", err, op, typ)
				}
			}
			if err != nil {
				return err
			}
			rj := toReceiptJSON(rc)
			rj.Package, rj.Version = name, version
			return g.print(rj, func(w io.Writer) { fmt.Fprintf(w, "%s %s@%s: done at log index %d\n", typ, name, version, rc.Index) })
		},
	}
	if typ != record.TypePromote {
		def := ""
		if needReason {
			def = "unspecified"
		}
		cmd.Flags().StringVar(&reason, "reason", def, "reason code, e.g. security, broken, mistake, superseded")
		cmd.Flags().StringVar(&note, "note", "", "a short explanation, kept off the log (erasable); the log holds its digest")
	}
	cmd.Flags().BoolVar(&asOperator, "as-operator", false, "act as the registry operator (--key is an operator key)")
	return cmd
}

func newTransitionCmds(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newTransitionCmd(g, record.TypePromote, "Promote a staged release to published", "Promote a staged release: it becomes published, visible and eligible as latest.\nLinked content is fetched and verified first.", false),
		newTransitionCmd(g, record.TypeYank, "Yank a published release", "Yank a published release: it stays fetchable by exact version but leaves\nlistings and ranges, and is never latest. The owner side can unyank it; a\nrelease the operator yanked only the operator can unyank.", true),
		newTransitionCmd(g, record.TypeUnyank, "Unyank a yanked release", "Return a yanked release to published.", false),
		newTransitionCmd(g, record.TypeDelete, "Delete a release", "Delete a release: its content answers 410 from then on; name@version is never\nreusable. Owners may delete staged releases any time, published or yanked\nones only within the registry's delete window (default 72 h) of publication.", true),
	}
}

func newFetchCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "fetch NAME@VERSION -o FILE",
		Short: "Download a release's content, verifying its digest",
		Long: `Download a release's content. The release is read against a verified
checkpoint, and the bytes are checked against the digest and size the release
names before FILE is written; on a mismatch nothing is written.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := parseRelease(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("-o FILE is required")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			rr, _, err := c.Release(cmd.Context(), name, version, client.At{})
			if err != nil {
				return err
			}
			if rr.Error != nil {
				return fmt.Errorf("%s", rr.Error.Message)
			}
			if err := c.Fetch(cmd.Context(), rr.Digest, rr.Size, out, g.progress("downloading", rr.Size)); err != nil {
				return err
			}
			abs, _ := filepath.Abs(out)
			return g.print(map[string]any{"package": name, "version": version, "digest": rr.Digest, "size": rr.Size, "file": abs, "status": rr.Status},
				func(w io.Writer) {
					fmt.Fprintf(w, "%s@%s -> %s (%s, digest verified)\n", name, version, out, human(rr.Size))
					if rr.Status != "published" {
						fmt.Fprintf(w, "note: this release is %s\n", rr.Status)
					}
				})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write")
	return cmd
}

func newShowCmd(g *globals) *cobra.Command {
	var at uint64
	var asof, include string
	var noComplete bool
	cmd := &cobra.Command{
		Use:   "show NAME[@VERSION]",
		Short: "Show a package or a release, now or as of any point in the log",
		Long: `Show a package (owners, releases and their states, latest) or one release
(its state and the history of its transitions), as of the latest checkpoint,
or as of a tree size (--at) or a time (--asof). The checkpoint of the answer is
verified against the log key and the checkpoint this client holds, and the
answer against the registry's verifiable index: the package's state and every
release are proven complete, so an answer that leaves out a release, a yank or
a tombstone is refused. Answers are as of a checkpoint (--at and --asof round
up to the first that covers them).`,
		Example: `  vouch show acme/widget
  vouch show acme/widget --include staged,yanked
  vouch show acme/widget@1.0.0 --at 42
  vouch show acme/widget --asof 2026-11-25T17:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := record.ParseRef(args[0])
			if err != nil {
				return err
			}
			pt := client.At{Size: at, Include: include, Complete: !noComplete}
			if asof != "" {
				if pt.Time, err = time.Parse(time.RFC3339Nano, asof); err != nil {
					return fmt.Errorf("--asof: want an RFC 3339 time such as 2026-11-25T17:00:00Z")
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if at == 0 && asof == "" {
				// Now is wherever the package is now; a point in the
				// past is read where it was then, here.
				if c, err = g.follow(cmd, c, name, !noComplete); err != nil {
					return err
				}
			}
			if version != "" {
				rr, _, err := c.Release(cmd.Context(), name, version, pt)
				if err != nil {
					return err
				}
				return g.print(rr, func(w io.Writer) { printRelease(w, rr) })
			}
			p, _, err := c.Package(cmd.Context(), name, pt)
			if err != nil {
				return err
			}
			return g.print(p, func(w io.Writer) { printPackage(w, p) })
		},
	}
	cmd.Flags().Uint64Var(&at, "at", 0, "answer as of this tree size")
	cmd.Flags().StringVar(&asof, "asof", "", "answer as of this time (RFC 3339)")
	cmd.Flags().StringVar(&include, "include", "", "also list releases in these states: staged,yanked,deleted,tombstoned,banished or all")
	cmd.Flags().BoolVar(&noComplete, "no-complete", false, "do not ask for the index's proof that the answer is complete")
	return cmd
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}

func printPackage(w io.Writer, p *api.Package) {
	fmt.Fprintf(w, "%s (%s", p.Name, p.Status)
	if p.Reason != "" {
		fmt.Fprintf(w, ": %s", p.Reason)
	}
	fmt.Fprintf(w, ")")
	if p.Latest != "" {
		fmt.Fprintf(w, "  latest %s", p.Latest)
	}
	fmt.Fprintf(w, "\nowners  %s\n", strings.Join(p.Owners, "\n        "))
	for k, perms := range p.Grants {
		fmt.Fprintf(w, "grant   %s: %s\n", k, strings.Join(perms, ","))
	}
	if len(p.Releases) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nVERSION\tSTATE\tDIGEST\tSIZE\tINDEX")
		for _, r := range p.Releases {
			sz := ""
			if r.Size > 0 {
				sz = human(r.Size)
			}
			st := r.Status
			if r.Reason != "" {
				st += " (" + r.Reason + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.Version, st, short(r.Digest), sz, r.Index)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nas of tree size %d (checkpoint verified)\n", p.TreeSize)
}

func printRelease(w io.Writer, r *api.ReleaseResponse) {
	fmt.Fprintf(w, "%s@%s  %s", r.Package, r.Version, r.Status)
	if r.Reason != "" {
		fmt.Fprintf(w, " (%s)", r.Reason)
	}
	fmt.Fprintln(w)
	if r.Digest != "" {
		fmt.Fprintf(w, "digest     %s\n", r.Digest)
	}
	for _, d := range r.Digests {
		fmt.Fprintf(w, "           %s\n", d)
	}
	if r.Size > 0 || r.MediaType != "" {
		fmt.Fprintf(w, "size       %s (%s)\n", human(r.Size), r.MediaType)
	}
	if r.URL != "" {
		fmt.Fprintf(w, "url        %s\n", r.URL)
	}
	if r.Content != nil {
		fmt.Fprintf(w, "content    %s (verified by the registry: %v)\n", r.Content.Href, r.Content.Verified)
	}
	if r.Unvalidated {
		fmt.Fprintln(w, "staged: a test release, not validated, never latest")
	}
	if r.YankedBy != "" {
		fmt.Fprintf(w, "yanked by  %s\n", r.YankedBy)
	}
	if r.Note != "" {
		fmt.Fprintf(w, "note       %s\n", r.Note)
	}
	if r.RemovedAt != nil {
		fmt.Fprintf(w, "removed    %s by %s\n", r.RemovedAt.Format(time.RFC3339), r.RemovedBy)
	}
	if len(r.History) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nINDEX\tTIME\tACTION\tBY\tSTATE\tREASON")
		for _, e := range r.History {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s %s\t%s\t%s\n", e.Index, e.Time.Format(time.RFC3339), e.Action, e.Role, short(e.Signer), e.To, e.Reason)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nas of tree size %d (checkpoint verified)\n", r.TreeSize)
}
