package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Server is a "vouch serve" process started by the benchmark.
type Server struct {
	URL     string
	Dir     string
	cmd     *exec.Cmd
	done    chan struct{}
	Started time.Duration // from exec to serving
}

// Spawn starts "vouch serve" (this very binary, or $VOUCH_BIN) on dir and
// waits until it answers /healthz. extra are further serve flags.
func Spawn(ctx context.Context, dir string, extra ...string) (*Server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if b := os.Getenv("VOUCH_BIN"); b != "" {
		exe = b // tests run from a test binary, not vouch
	} else if strings.HasSuffix(exe, ".test") || strings.HasSuffix(exe, ".test.exe") {
		// A test binary given "serve" would run its tests again, each
		// spawning another: refuse rather than multiply.
		return nil, errors.New("bench: running from a test binary: set VOUCH_BIN to a vouch binary to spawn")
	}
	args := append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn", "--monitor-interval", "0"}, extra...)
	if d := os.Getenv("VOUCH_BENCH_DEBUG_ADDR"); d != "" {
		args = append(args, "--debug-addr", d)
	}
	start := time.Now()
	cmd := exec.Command(exe, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := hintRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case s.URL = <-found:
	case <-s.done:
		return nil, fmt.Errorf("vouch serve exited before serving")
	case <-time.After(5 * time.Minute):
		s.Kill()
		return nil, fmt.Errorf("vouch serve did not start within 5 minutes")
	case <-ctx.Done():
		s.Kill()
		return nil, ctx.Err()
	}
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			drain(resp)
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("vouch serve exited before it was healthy")
		case <-time.After(time.Millisecond):
		}
	}
	s.Started = time.Since(start)
	return s, nil
}

var hintRE = regexp.MustCompile(`export VOUCH_REGISTRY=(http://[0-9.:]+)`)

// PID returns the server's process ID.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop ends the server cleanly.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.Kill()
	}
}

// Kill ends the server with SIGKILL.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.done
}
