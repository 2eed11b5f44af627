package metrics

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// allNames returns the name of every vouch_ metric a Metrics can report,
// with every source attached.
func allNames(t *testing.T) map[string]bool {
	t.Helper()
	m := New()
	m.DB("sqlite")
	m.Refused("malformed")
	m.httpRequests.WithLabelValues("/", "200").Inc()
	m.httpDuration.WithLabelValues("/").Observe(0)
	m.AttachLog(func(context.Context) LogReadings {
		return LogReadings{SequencedOK: true, CheckpointTime: time.Now(), Witnesses: []WitnessReadings{{Name: "w"}}}
	})
	m.AttachMirror(func() MirrorReadings { return MirrorReadings{} })
	names := map[string]bool{}
	for name := range gather(t, m) {
		if strings.HasPrefix(name, "vouch_") {
			names[name] = true
		}
	}
	if len(names) < 20 {
		t.Fatalf("only %d vouch_ metrics: %v", len(names), names)
	}
	return names
}

// TestDocumented: docs/operating.md lists every metric, and the Grafana
// dashboard is valid JSON that plots only metrics that exist, and each of
// them.
func TestDocumented(t *testing.T) {
	names := allNames(t)
	ops, err := os.ReadFile("../docs/operating.md")
	if err != nil {
		t.Fatal(err)
	}
	for n := range names {
		if !strings.Contains(string(ops), "`"+n+"`") {
			t.Errorf("docs/operating.md does not list %s", n)
		}
	}
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	used := map[string]bool{}
	re := regexp.MustCompile(`vouch_[a-z_]+`)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range re.FindAllString(tg.Expr, -1) {
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if base := strings.TrimSuffix(n, suffix); base != n && names[base] {
						n = base
					}
				}
				if !names[n] {
					t.Errorf("panel %q plots %s, which does not exist", p.Title, n)
				}
				used[n] = true
			}
		}
	}
	for n := range names {
		if !used[n] {
			t.Errorf("the dashboard does not plot %s", n)
		}
	}
}
