package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/datadir"
	"github.com/vouchdev/vouch/store"
	"github.com/vouchdev/vouch/store/sqlstore"
	"github.com/vouchdev/vouch/translog"
)

// vouchBin is the vouch binary built for the process-level tests.
var vouchBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vouch-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vouchBin = filepath.Join(dir, "vouch")
	build := exec.Command("go", "build", "-o", vouchBin, "github.com/vouchdev/vouch/cmd/vouch")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building vouch:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a vouch serve process.
type proc struct {
	cmd  *exec.Cmd
	URL  string
	done chan struct{}
}

var urlRE = regexp.MustCompile(`url=(http://[0-9.:]+)`)

// startServe runs "vouch serve" on dir with a free port and waits until it
// serves.
func startServe(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	return startVouch(t, append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, args...)...)
}

// startVouch runs a vouch command that serves HTTP, and waits until it
// logs the URL it serves.
func startVouch(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(vouchBin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if os.Getenv("VOUCH_TEST_LOG") != "" {
				fmt.Fprintln(os.Stderr, "serve:", line)
			}
			if m := urlRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(p.done) }()
	select {
	case p.URL = <-found:
	case <-p.done:
		t.Fatalf("vouch %s exited before serving", args[0])
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("vouch %s did not start within 30s", args[0])
	}
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("vouch serve did not stop on SIGTERM")
	}
}

// checkAllCheckpoints opens a data directory's database (no server may be
// running) and checks that every stored checkpoint verifies and is
// consistent with the next one.
func checkAllCheckpoints(t *testing.T, dir string) int {
	t.Helper()
	ctx := context.Background()
	vkey, err := os.ReadFile(filepath.Join(dir, datadir.LogVKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	v, err := translog.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, datadir.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Checkpoints(ctx, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return st.ReadHashes(ctx, idx) })
	var prev *translog.Checkpoint
	for _, row := range rows {
		cp, err := v.Open(row.Note)
		if err != nil {
			t.Fatalf("checkpoint %d: %v", row.Size, err)
		}
		if prev != nil {
			var p tlog.TreeProof
			if prev.Size > 0 && prev.Size < cp.Size {
				if p, err = tlog.ProveTree(int64(cp.Size), int64(prev.Size), hr); err != nil {
					t.Fatal(err)
				}
			}
			if err := translog.VerifyConsistency(prev, cp, p); err != nil {
				t.Fatal(err)
			}
		}
		prev = cp
	}
	return len(rows)
}

type (
	storeSeqTx    = store.SeqTx
	storeEntryRow = store.EntryRow
)
