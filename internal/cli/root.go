// Package cli implements the vouch command line.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/cosign"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/translog"
)

// DefaultRegistry is the registry the CLI talks to when none is named.
const DefaultRegistry = "http://127.0.0.1:8080"

// globals are the flags every command shares.
type globals struct {
	registry string
	logURL   string
	// witnessPolicy is a witness policy file: the witnesses a client
	// requires, or those a served log submits to.
	witnessPolicy string
	keyFiles      []string
	// passwordFile holds the password of encrypted --key files (else
	// COSIGN_PASSWORD).
	passwordFile string
	// trustedRoots are Sigstore trusted roots the client verifies keyless
	// bundles against (vouch verify, vouch audit).
	trustedRoots []string
	logKey       string
	json         bool
	out          io.Writer
	errOut       io.Writer
}

// Main runs the CLI with args and returns the exit status.
func Main(args []string) int {
	if os.Getenv("GOGC") == "" {
		// Commands like serve, audit and bench keep small live heaps and
		// churn through garbage; collecting less often saves CPU.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, "vouch:", ee.msg)
			}
			return ee.code
		}
		fmt.Fprintln(os.Stderr, "vouch:", err)
		return 1
	}
	return 0
}

// exitError ends the program with a given status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func newRoot(out, errOut io.Writer) *cobra.Command {
	g := &globals{out: out, errOut: errOut}
	root := &cobra.Command{
		Use:   "vouch",
		Short: "Vouch: a transparent registry of signed statements about software",
		Long: `Vouch stores, queries and verifies every signature that vouches for a piece of
software, in one append-only Merkle log that anyone can verify.

Start a registry with "vouch serve"; every other command is a client of a
running registry (--registry, default ` + DefaultRegistry + `).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	pf := root.PersistentFlags()
	pf.StringVar(&g.registry, "registry", envOr("VOUCH_REGISTRY", DefaultRegistry), "registry URL (env VOUCH_REGISTRY)")
	pf.StringVar(&g.logURL, "log-url", os.Getenv("VOUCH_LOG_URL"), "where the log's tiles are read from to verify, e.g. a mirror or CDN of the registry's /log/ (default: the registry; env VOUCH_LOG_URL)")
	pf.StringSliceVar(&g.keyFiles, "key", envList("VOUCH_KEY"), "private key file to sign with: vouch key generate's, cosign's (encrypted) or OpenSSH's; repeatable where several signers are allowed (env VOUCH_KEY)")
	pf.StringVar(&g.passwordFile, "password-file", "", "file whose first line is the password of encrypted --key files (default: env COSIGN_PASSWORD)")
	pf.StringVar(&g.logKey, "log-key", os.Getenv("VOUCH_LOG_KEY"), "the registry's log verifier key, or a file holding it such as <data>/log.vkey (env VOUCH_LOG_KEY)")
	pf.BoolVar(&g.json, "json", false, "print machine-readable JSON")
	pf.StringVar(&g.witnessPolicy, "witness-policy", os.Getenv("VOUCH_WITNESS_POLICY"), "a witness policy file (docs/witnessing.md): clients refuse checkpoints without a quorum of its witnesses' cosignatures; vouch serve submits its checkpoints to them (env VOUCH_WITNESS_POLICY)")
	root.AddCommand(
		newServeCmd(g),
		newKeyCmd(g),
		newIdentityCmd(g),
		newPackageCmd(g),
		newLogCmd(g),
		newPublishCmd(g),
		newFetchCmd(g),
		newShowCmd(g),
		newAdminCmd(g),
		newAuditCmd(g),
		newAttestCmd(g),
		newQueryCmd(g),
		newVerifyCmd(g),
		newBenchCmd(g),
		newWitnessCmd(g),
		newMirrorCmd(g),
		newTrustCmd(g),
	)
	root.AddCommand(newTransitionCmds(g)...)
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envList(name string) []string {
	if v := os.Getenv(name); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// client returns a verifying client for the configured registry.
func (g *globals) client() (*client.Client, error) {
	o := client.Options{UserAgent: "vouch-cli", LogURL: g.logURL}
	if g.logKey == "" {
		// Without --log-key, the registry's pinned TUF root (vouch trust
		// init) gives the log key, the logs it continues, the operators
		// and the witness policy.
		t, err := g.tufTrust()
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, errors.New("no trusted log key: pin the registry's TUF root with vouch trust init --registry URL --root ROOT.json, or pass --log-key or set VOUCH_LOG_KEY (the registry's <data>/log.vkey, or its contents)")
		}
		o.Trust = t
	} else {
		v, err := translog.LoadVerifier(g.logKey)
		if err != nil {
			return nil, err
		}
		o.LogKey = v
	}
	policy, err := g.policy()
	if err != nil {
		return nil, err
	}
	o.WitnessPolicy = policy
	if o.Sigstore, err = loadTrustedRoots(g.trustedRoots); err != nil {
		return nil, err
	}
	return client.New(g.registry, o)
}

// policy loads the --witness-policy file, if any.
func (g *globals) policy() (*cosign.Policy, error) {
	if g.witnessPolicy == "" {
		return nil, nil
	}
	return cosign.LoadPolicy(g.witnessPolicy)
}

// signers loads the --key files; at least one is required.
func (g *globals) signers() ([]*keys.PrivateKey, error) {
	if len(g.keyFiles) == 0 {
		return nil, errors.New("no signing key: pass --key FILE or set VOUCH_KEY (create one with: vouch key generate --out FILE)")
	}
	var out []*keys.PrivateKey
	for _, f := range g.keyFiles {
		k, err := g.loadKey(f, "--key")
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// loadKey reads a private key file given to flag, in any format package
// keys reads; a file of another kind gets an error saying what it is.
func (g *globals) loadKey(path, flag string) (*keys.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := keys.ParsePrivate(b, keys.PasswordFrom(g.passwordFile))
	if err != nil {
		switch got := sniffFile(b); got {
		case kindPrivateKey, kindCosignKey, kindSSHKey:
			return nil, fmt.Errorf("%s: %v", path, err)
		default:
			return nil, kindError(path, flag, got, kindPrivateKey, kindCosignKey, kindSSHKey)
		}
	}
	return k, nil
}

// signedClient loads the --key signers and a verifying client.
func (g *globals) signedClient() ([]*keys.PrivateKey, *client.Client, error) {
	signers, err := g.signers()
	if err != nil {
		return nil, nil, err
	}
	c, err := g.client()
	return signers, c, err
}

// signer loads the single --key file.
func (g *globals) signer() (*keys.PrivateKey, error) {
	ks, err := g.signers()
	if err != nil {
		return nil, err
	}
	if len(ks) > 1 {
		return nil, errors.New("this command signs with one key; pass --key once")
	}
	return ks[0], nil
}

// print writes v as JSON with --json, or calls human otherwise.
func (g *globals) print(v any, human func(w io.Writer)) error {
	if g.json {
		enc := json.NewEncoder(g.out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	human(g.out)
	return nil
}
