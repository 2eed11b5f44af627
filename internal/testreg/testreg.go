// Package testreg starts real registries for tests: a data directory, a real
// SQLite database, the registry core and its HTTP server on loopback, and
// verifying clients. Nothing is mocked.
package testreg

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/content"
	"github.com/vouchdev/vouch/cosign"
	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/internal/backend"
	"github.com/vouchdev/vouch/internal/testenv"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/metrics"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/registry"
	"github.com/vouchdev/vouch/server"
	"github.com/vouchdev/vouch/sigstore"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store/sqlstore"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/web"
)

// Options tune a test registry.
type Options struct {
	// Dir is the data directory; empty means a fresh temporary one.
	Dir string
	// DeleteWindow is the owners' delete window (default 72 h).
	DeleteWindow time.Duration
	// Now replaces the registry's clock.
	Now func() time.Time
	// MaxBlobSize limits content (default 1 GiB).
	MaxBlobSize int64
	// MaxAttestationSize limits statements (default 16 MiB).
	MaxAttestationSize int64
	// Logger receives the registry's logs (default: discarded unless
	// VOUCH_TEST_LOG is set).
	Logger *slog.Logger
	// SQLite forces the embedded backends even when VOUCH_TEST_POSTGRES
	// and VOUCH_TEST_S3 select others (for tests about SQLite files).
	SQLite bool
	// DB and Blobs, if set, are the database and blob store URLs to use
	// (for several registries sharing them).
	DB, Blobs string
	// WitnessPolicy, if set, has the registry get its checkpoints cosigned
	// (rounds every 20 ms).
	WitnessPolicy *cosign.Policy
	// RotateLog, if set, rotates the log key of the data directory Dir
	// (the registry stopped): a new log under this origin continues the
	// old one (see datadir.Dir.RotateLog).
	RotateLog string
	// TUFDir, if set, is a TUF repository directory (package tufrepo)
	// whose repository/ is served under /tuf/.
	TUFDir string
	// Sigstore are the trusted roots keyless bundles are verified against.
	Sigstore *sigstore.Roots
}

// Env is a running test registry.
type Env struct {
	T        testing.TB
	Dir      string
	URL      string
	Reg      *registry.Registry
	Store    *sqlstore.DB
	Verifier *translog.Verifier
	Operator *keys.PrivateKey
	// Metrics are the registry's, served at URL/metrics.
	Metrics *metrics.Metrics
	// Backend is "sqlite" or "postgres"; DB and Blobs the URLs in use
	// ("" for the embedded defaults).
	Backend   string
	DB, Blobs string
	data      *datadir.Dir
	srv       *httptest.Server
	stopped   bool
}

// Start starts a registry and stops it when the test ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "data")
	}
	if o.DeleteWindow == 0 {
		o.DeleteWindow = state.DefaultDeleteWindow
	}
	if o.Logger == nil {
		var w io.Writer = io.Discard
		if os.Getenv("VOUCH_TEST_LOG") != "" {
			w = os.Stderr
		}
		o.Logger = slog.New(slog.NewTextHandler(w, nil))
	}
	ctx := context.Background()
	d, err := datadir.Open(o.Dir, datadir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !o.SQLite && o.DB == "" {
		o.DB = testenv.Database(t)
	}
	if !o.SQLite && o.Blobs == "" {
		o.Blobs = testenv.Bucket(t)
	}
	st, err := backend.OpenStore(ctx, o.Dir, o.DB)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := backend.OpenBlobs(ctx, o.Dir, o.Blobs)
	if err != nil {
		t.Fatal(err)
	}
	if o.RotateLog != "" {
		row, err := st.LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.RotateLog(o.RotateLog, row.Note); err != nil {
			t.Fatal(err)
		}
	}
	guard, err := d.OpenGuard()
	if err != nil {
		t.Fatal(err)
	}
	mets := metrics.New()
	reg, err := registry.Open(ctx, registry.Config{Store: st, LogSigner: d.LogSigner, LogVKey: d.LogVKey, Logger: o.Logger, Now: o.Now, Guard: guard,
		Blobs: blobs, MaxBlobSize: o.MaxBlobSize, MaxAttestationSize: o.MaxAttestationSize,
		Fetcher: content.NewClient(true), Operator: d.OperatorKey, PollInterval: 10 * time.Millisecond,
		WitnessPolicy: o.WitnessPolicy, WitnessInterval: 20 * time.Millisecond,
		Continues: d.Continues(), ContinuesKey: d.Predecessor(), Sigstore: o.Sigstore, Metrics: mets})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := reg.WaitReady(rctx); err != nil {
		t.Fatal(err)
	}
	if err := reg.EnsureOperator(rctx, d.OperatorKey, o.DeleteWindow); err != nil {
		t.Fatal(err)
	}
	if err := reg.EnsureContinued(rctx, d.OperatorKey); err != nil {
		t.Fatal(err)
	}
	if o.WitnessPolicy != nil {
		// Writes wait for a witnessed checkpoint: the witnesses must be
		// up, and know the log, before the registry starts.
		if _, err := reg.WaitCovered(rctx, 0); err != nil {
			t.Fatalf("no witnessed checkpoint: %v", err)
		}
	}
	v, err := translog.NewVerifier(d.LogVKey)
	if err != nil {
		t.Fatal(err)
	}
	var tuf fs.FS
	if o.TUFDir != "" {
		tuf = os.DirFS(filepath.Join(o.TUFDir, "repository"))
	}
	pages := web.New(web.Config{Registry: reg, Logger: o.Logger})
	srv := httptest.NewServer(server.New(server.Config{Registry: reg, Logger: o.Logger, Pages: pages, TUF: tuf, Metrics: mets}))
	e := &Env{T: t, Dir: o.Dir, URL: srv.URL, Reg: reg, Store: st, Verifier: v, Operator: d.OperatorKey, Metrics: mets, data: d, srv: srv,
		Backend: "sqlite", DB: o.DB, Blobs: o.Blobs}
	if o.DB != "" {
		e.Backend = "postgres"
	}
	t.Cleanup(e.Stop)
	return e
}

// Stop shuts the registry down (idempotent).
func (e *Env) Stop() {
	if e.stopped {
		return
	}
	e.stopped = true
	e.srv.Close()
	e.Reg.Close()
	e.Store.Close()
	e.data.Close()
}

// Client returns a verifying client with its own, fresh trust store.
func (e *Env) Client() *client.Client {
	return e.ClientAt(e.T.TempDir())
}

// ClientAt returns a verifying client keeping its checkpoints under home.
func (e *Env) ClientAt(home string) *client.Client {
	return e.ClientWith(client.Options{Home: home})
}

// ClientWith returns a verifying client of the registry with the given
// options (the log key is the registry's).
func (e *Env) ClientWith(o client.Options) *client.Client {
	o.LogKey = e.Verifier
	if o.Home == "" {
		o.Home = e.T.TempDir()
	}
	c, err := client.New(e.URL, o)
	if err != nil {
		e.T.Fatal(err)
	}
	return c
}

// Key generates a key and registers it as an identity.
func (e *Env) Key(typ keys.Type) *keys.PrivateKey {
	e.T.Helper()
	k, err := keys.Generate(typ)
	if err != nil {
		e.T.Fatal(err)
	}
	e.Must(&record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k)
	return k
}

// Submit signs and submits a record, waiting for its inclusion proof.
func (e *Env) Submit(c *client.Client, r *record.Record, signers ...*keys.PrivateKey) (*client.Receipt, error) {
	if r.Time == "" {
		r.Time = time.Now().UTC().Format(time.RFC3339)
	}
	env, err := record.SignRecord(r, signers...)
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = e.Client()
	}
	return c.Submit(context.Background(), &client.Submission{Envelope: env}, true)
}

// Must submits a record that must be accepted.
func (e *Env) Must(r *record.Record, signers ...*keys.PrivateKey) *client.Receipt {
	e.T.Helper()
	rc, err := e.Submit(nil, r, signers...)
	if err != nil {
		e.T.Fatalf("%s record refused: %v", r.Type, err)
	}
	return rc
}
