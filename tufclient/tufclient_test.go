package tufclient_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/logchain"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/tufclient"
	"github.com/vouchdev/vouch/tufrepo"
)

// repo makes a repository with a log and an operator, served at URL/tuf/.
func repo(t *testing.T) (*tufrepo.Repo, string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tuf")
	r := tufrepo.Open(dir)
	_, vkey, err := translog.GenerateLogKey("example.com/log")
	if err != nil {
		t.Fatal(err)
	}
	op, _ := keys.Generate(keys.Ed25519)
	chain := &logchain.Chain{Logs: []logchain.Log{{Origin: "example.com/log", VKey: vkey}}}
	if err := r.Init(tufrepo.InitOptions{Targets: map[string][]byte{
		tufrepo.TargetLogVKey:   []byte(vkey + "\n"),
		tufrepo.TargetLogs:      chain.Marshal(),
		tufrepo.TargetOperators: tufrepo.MarshalOperators(op.Public()),
	}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/tuf/", http.FileServer(http.Dir(filepath.Join(dir, tufrepo.RepositoryDir)))))
	t.Cleanup(srv.Close)
	return r, srv.URL, vkey
}

func pin(t *testing.T, r *tufrepo.Repo, cfg tufclient.Config) *tufclient.Trust {
	t.Helper()
	root, err := os.ReadFile(filepath.Join(r.Dir, tufrepo.RepositoryDir, "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tufclient.Pin(cfg, root)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestBootstrapRotateRefuse(t *testing.T) {
	r, url, vkey := repo(t)
	cfg := tufclient.Config{Registry: url, Home: t.TempDir()}
	tr := pin(t, r, cfg)
	if tr.LogKey.Key() != vkey || len(tr.Operators.Operators) != 1 {
		t.Fatalf("trust: %+v", tr)
	}
	// Rotate the targets key and change the operators: the client follows.
	if err := r.Rotate("targets", 1, 1); err != nil {
		t.Fatal(err)
	}
	op2, _ := keys.Generate(keys.Ed25519)
	r.SetTarget(tufrepo.TargetOperators, tufrepo.MarshalOperators(op2.Public()))
	if err := r.SignTargets(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(false); err != nil {
		t.Fatal(err)
	}
	tr, err := tufclient.Update(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tr.RootVersion != 2 || tr.Operators.Operators[0].KeyID != op2.ID() {
		t.Fatalf("root %d operators %v", tr.RootVersion, tr.Operators.KeyIDs())
	}
	// Rotate the root keys (to two of two) and the online key: followed.
	if err := r.Rotate("root", 2, 2); err != nil {
		t.Fatal(err)
	}
	if err := r.Rotate("timestamp", 1, 1); err != nil {
		t.Fatal(err)
	}
	if tr, err = tufclient.Update(cfg); err != nil || tr.RootVersion != 4 {
		t.Fatalf("after root and online key rotations: %v", err)
	}
	// An older timestamp is refused as a rollback.
	ts := filepath.Join(r.Dir, tufrepo.RepositoryDir, "timestamp.json")
	old, _ := os.ReadFile(ts)
	if _, err := r.Publish(true); err != nil {
		t.Fatal(err)
	}
	if _, err := tufclient.Update(cfg); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ts, old, 0o644)
	_, err = tufclient.Update(cfg)
	var re *tufclient.RefusedError
	if !errors.As(err, &re) || re.Kind != "rollback" {
		t.Fatalf("old timestamp: %v", err)
	}
	t.Log(err)
	// Expired: the timestamp's expiry is named.
	r.Publish(true)
	later := time.Now().Add(48 * time.Hour)
	cfg.Now = func() time.Time { return later }
	_, err = tufclient.Update(cfg)
	if !errors.As(err, &re) || re.Kind != "expired" || !strings.Contains(err.Error(), "timestamp.json expired at 20") {
		t.Fatalf("expired: %v", err)
	}
	t.Log(err)

	// A snapshot other than the one the timestamp names is refused.
	cfg.Now = nil
	r.Publish(true)
	if _, err := tufclient.Update(cfg); err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(r.Dir, tufrepo.RepositoryDir, "*.snapshot.json"))
	if len(snaps) < 2 {
		t.Fatal(snaps)
	}
	oldSnap, _ := os.ReadFile(filepath.Join(r.Dir, tufrepo.RepositoryDir, "1.snapshot.json"))
	r.Publish(true)
	n := len(snaps) + 1
	os.WriteFile(filepath.Join(r.Dir, tufrepo.RepositoryDir, strconv.Itoa(n)+".snapshot.json"), oldSnap, 0o644)
	_, err = tufclient.Update(cfg)
	if !errors.As(err, &re) || re.Kind != "mix-and-match" {
		t.Fatalf("old snapshot: %v", err)
	}
	t.Log(err)

	// Expired targets name their expiry.
	r.Expiry.Targets = time.Hour
	if err := r.SignTargets(); err != nil {
		t.Fatal(err)
	}
	r.Publish(true)
	cfg.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	_, err = tufclient.Update(cfg)
	if !errors.As(err, &re) || re.Kind != "expired" || !strings.Contains(err.Error(), "targets.json expired at 20") {
		t.Fatalf("expired targets: %v", err)
	}
	t.Log(err)
}
