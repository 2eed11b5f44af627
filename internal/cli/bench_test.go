package cli

import (
	"io"
	"testing"
	"time"
)

// TestBenchAppendDefaultEntries: vouch bench append sizes its pre-signed
// workload to --duration, whatever fill and query default to, and
// --entries still decides when given.
func TestBenchAppendDefaultEntries(t *testing.T) {
	for _, c := range []struct {
		entries  int
		duration time.Duration
		want     int
	}{
		{0, 20 * time.Second, 400_000},
		{0, 30 * time.Second, 600_000},
		{0, time.Second, minAppendEntries},
		{0, 0, minAppendEntries},
		{0, time.Hour, maxAppendEntries},
		{200_000, 30 * time.Second, 200_000},
		{5_000_000, time.Second, 5_000_000},
	} {
		if got := appendEntries(c.entries, c.duration); got != c.want {
			t.Errorf("appendEntries(%d, %s) = %d, want %d", c.entries, c.duration, got, c.want)
		}
	}
	// The flags as the command defines them: append's --entries is not
	// fill's (which once shared its variable, and its million).
	bench := newBenchCmd(&globals{out: io.Discard, errOut: io.Discard})
	want := map[string]string{"append": "0", "fill": "1000000", "query": "1000000"}
	for _, sub := range bench.Commands() {
		w, ok := want[sub.Name()]
		if !ok {
			continue
		}
		if err := sub.ParseFlags(nil); err != nil {
			t.Fatal(err)
		}
		if got := sub.Flags().Lookup("entries").Value.String(); got != w {
			t.Errorf("vouch bench %s: --entries defaults to %s, want %s", sub.Name(), got, w)
		}
	}
}
