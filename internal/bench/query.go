package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vouchdev/vouch/internal/atomicfile"
)

// Meta describes a filled log, saved beside its data directory so that
// later runs can reuse it.
type Meta struct {
	Entries  uint64   `json:"entries"`
	Packages []string `json:"packages"`
	Digests  []string `json:"digests"`
}

// MetaFile is where Meta is kept in a data directory.
const MetaFile = "bench-meta.json"

// LoadMeta reads a data directory's Meta, if any.
func LoadMeta(dir string) (*Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if err != nil {
		return nil, err
	}
	var m Meta
	return &m, json.Unmarshal(b, &m)
}

// Save writes m into a data directory.
func (m *Meta) Save(dir string) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, MetaFile), b, 0o644)
}

// QueryResult is the latency of one kind of query.
type QueryResult struct {
	Name    string      `json:"name"`
	Example string      `json:"example"`
	Latency Percentiles `json:"latency"`
	Errors  int         `json:"errors"`
	// Items is the average number of items in an answer.
	Items float64 `json:"items"`
	// Bytes is the average size of an answer; ProofNodes the average
	// number of nodes in its completeness proof (proof=complete).
	Bytes      float64 `json:"bytes"`
	ProofNodes float64 `json:"proofNodes,omitempty"`
}

// QueryOptions shape a query run.
type QueryOptions struct {
	Requests int
	Workers  int
}

type querySpec struct {
	name string
	make func(r *rand.Rand, size uint64) string
}

// RunQueries measures the SPEC §9 queries on a filled log: attestations of
// a digest, the state of a package, a where= CEL query, and the first two at
// random tree sizes.
func RunQueries(ctx context.Context, base string, hc *http.Client, m *Meta, o QueryOptions) ([]QueryResult, error) {
	st, body, err := get(ctx, hc, base+"/api/v1/checkpoint")
	if err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("reading the checkpoint: %v %s", err, body)
	}
	var cp struct{ Size uint64 }
	json.Unmarshal(body, &cp)
	pkg := func(r *rand.Rand) string { return m.Packages[r.IntN(len(m.Packages))] }
	dig := func(r *rand.Rand) string { return m.Digests[r.IntN(len(m.Digests))] }
	at := func(r *rand.Rand, size uint64) string { return strconv.FormatUint(1+r.Uint64N(size), 10) }
	specs := []querySpec{
		{"attestations of a digest", func(r *rand.Rand, _ uint64) string {
			return "/api/v1/query?kind=attestation&subject=" + dig(r)
		}},
		{"state of a package", func(r *rand.Rand, _ uint64) string {
			return "/api/v1/packages/" + url.PathEscape(pkg(r))
		}},
		{"where= (CEL) over a package", func(r *rand.Rand, _ uint64) string {
			return "/api/v1/query?package=" + url.QueryEscape(pkg(r)) + "&where=" + url.QueryEscape(`kind == "attestation" && fields.decision == "approved"`)
		}},
		{"attestations of a digest, at= random", func(r *rand.Rand, size uint64) string {
			return "/api/v1/query?kind=attestation&subject=" + dig(r) + "&at=" + at(r, size)
		}},
		{"state of a package, at= random", func(r *rand.Rand, size uint64) string {
			return "/api/v1/packages/" + url.PathEscape(pkg(r)) + "?include=all&at=" + at(r, size)
		}},
		{"attestations of a digest, proof=complete", func(r *rand.Rand, _ uint64) string {
			return "/api/v1/query?kind=attestation&proof=complete&subject=" + dig(r)
		}},
		{"state of a package, proof=complete", func(r *rand.Rand, _ uint64) string {
			return "/api/v1/packages/" + url.PathEscape(pkg(r)) + "?include=all&proof=complete"
		}},
		{"state of a package, proof=complete, at= random", func(r *rand.Rand, size uint64) string {
			return "/api/v1/packages/" + url.PathEscape(pkg(r)) + "?include=all&proof=complete&at=" + at(r, size)
		}},
	}
	var out []QueryResult
	for _, s := range specs {
		res := QueryResult{Name: s.name, Example: s.make(rand.New(rand.NewPCG(1, 2)), cp.Size)}
		var mu sync.Mutex
		var lat []time.Duration
		items, bytes, nodes := 0, 0, 0
		var wg sync.WaitGroup
		per := o.Requests / o.Workers
		for w := 0; w < o.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 42))
				for i := 0; i < per; i++ {
					path := s.make(r, cp.Size)
					t0 := time.Now()
					st, body, err := get(ctx, hc, base+path)
					d := time.Since(t0)
					mu.Lock()
					if err != nil || st != http.StatusOK && st != http.StatusNotFound {
						res.Errors++
					} else {
						lat = append(lat, d)
						var n struct {
							Items    []json.RawMessage `json:"items"`
							Releases []json.RawMessage `json:"releases"`
							Complete *struct {
								Proof []json.RawMessage `json:"proof"`
							} `json:"complete"`
						}
						json.Unmarshal(body, &n)
						items += len(n.Items) + len(n.Releases)
						bytes += len(body)
						if n.Complete != nil {
							nodes += len(n.Complete.Proof)
						}
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		res.Latency = Summarise(lat)
		if len(lat) > 0 {
			res.Items = float64(items) / float64(len(lat))
			res.Bytes = float64(bytes) / float64(len(lat))
			res.ProofNodes = float64(nodes) / float64(len(lat))
		}
		out = append(out, res)
	}
	return out, nil
}
