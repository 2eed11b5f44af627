package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
)

// The mix of one workload unit: a package is created, gets Releases
// releases (each with its own small uploaded blob), and every release gets
// AttestationsPerRelease attestations (provenance, then approvals).
const (
	Releases               = 3
	AttestationsPerRelease = 2
	UnitSize               = 1 + Releases*(1+AttestationsPerRelease)
	blobSize               = 96
)

// Item is one pre-signed submission.
type Item struct {
	Body []byte
	Kind string // "create", "release" or "attestation"
}

// Workload is everything a load run sends, pre-signed: one ordered stream
// of items per client (a client's packages form hash chains, so its items
// must be sent in order), and the blobs to upload first.
type Workload struct {
	Streams [][]Item
	// Blobs maps digest to content, for the releases.
	Blobs map[string][]byte
	// Identities are the identity records to register before anything else.
	Identities [][]byte
	// Packages are the package names, Digests the release contents.
	Packages []string
	Digests  []string
	Total    int
}

type actor struct {
	owner     *keys.PrivateKey
	attesters []*keys.PrivateKey
}

// NewWorkload pre-signs about n entries for the given number of clients,
// using all CPUs. seed makes package names unique across runs on the same
// registry.
func NewWorkload(n, clients int, seed string) (*Workload, error) {
	units := max(1, n/UnitSize)
	perClient := (units + clients - 1) / clients
	w := &Workload{Streams: make([][]Item, clients), Blobs: map[string][]byte{}}
	// Keys: one owner per client; a shared pool of attesters, mostly
	// Ed25519, some ECDSA P-256.
	var attesters []*keys.PrivateKey
	for i := 0; i < 8; i++ {
		t := keys.Ed25519
		if i%4 == 3 {
			t = keys.ECDSAP256
		}
		k, err := keys.Generate(t)
		if err != nil {
			return nil, err
		}
		attesters = append(attesters, k)
	}
	actors := make([]actor, clients)
	for c := range actors {
		k, err := keys.Generate(keys.Ed25519)
		if err != nil {
			return nil, err
		}
		actors[c] = actor{owner: k, attesters: attesters}
	}
	for _, k := range attesters {
		w.Identities = append(w.Identities, mustIdentity(k))
	}
	for _, a := range actors {
		w.Identities = append(w.Identities, mustIdentity(a.owner))
	}
	type out struct {
		items    []Item
		blobs    map[string][]byte
		packages []string
		digests  []string
		err      error
	}
	res := make([]out, clients)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			o := &res[c]
			o.blobs = map[string][]byte{}
			for u := 0; u < perClient && c*perClient+u < units; u++ {
				name := fmt.Sprintf("bench-%s/c%d/p%d", seed, c, u)
				o.packages = append(o.packages, name)
				items, err := unit(name, actors[c], u, o.blobs, &o.digests)
				if err != nil {
					o.err = err
					return
				}
				o.items = append(o.items, items...)
			}
		}()
	}
	wg.Wait()
	for c, o := range res {
		if o.err != nil {
			return nil, o.err
		}
		w.Streams[c] = o.items
		w.Total += len(o.items)
		for d, b := range o.blobs {
			w.Blobs[d] = b
		}
		w.Packages = append(w.Packages, o.packages...)
		w.Digests = append(w.Digests, o.digests...)
	}
	return w, nil
}

func mustIdentity(k *keys.PrivateKey) []byte {
	env, err := record.SignRecord(&record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64(), Time: "2026-11-25T00:00:00Z"}, k)
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(env)
	return b
}

// unit signs one package's items.
func unit(name string, a actor, u int, blobs map[string][]byte, digests *[]string) ([]Item, error) {
	const t = "2026-11-25T00:00:00Z"
	var items []Item
	sign := func(r *record.Record, kind string) (string, error) {
		r.Time = t
		env, err := record.SignRecord(r, a.owner)
		if err != nil {
			return "", err
		}
		b, _ := json.Marshal(env)
		items = append(items, Item{Body: b, Kind: kind})
		p, _ := env.DecodeB64Payload()
		return record.Hash(p), nil
	}
	prev, err := sign(&record.Record{Type: record.TypeCreate, Package: name, Owners: []string{a.owner.ID()}}, "create")
	if err != nil {
		return nil, err
	}
	for v := 0; v < Releases; v++ {
		content := make([]byte, blobSize)
		h := sha256.Sum256([]byte(fmt.Sprintf("%s@%d", name, v)))
		for i := 0; i < blobSize; i += len(h) {
			copy(content[i:], h[:])
		}
		binary.BigEndian.PutUint32(content, uint32(v))
		sum := sha256.Sum256(content)
		digest := "sha256:" + hex.EncodeToString(sum[:])
		blobs[digest] = content
		*digests = append(*digests, digest)
		size := int64(len(content))
		if prev, err = sign(&record.Record{Type: record.TypeRelease, Package: name, Prev: prev, Version: fmt.Sprintf("1.%d.0", v),
			Digest: digest, Size: &size, MediaType: "application/octet-stream", Channel: record.ChannelPublished}, "release"); err != nil {
			return nil, err
		}
		for j := 0; j < AttestationsPerRelease; j++ {
			signer := a.attesters[(u*Releases+v+j)%len(a.attesters)]
			ptype, pred := predicate.SLSAProvenanceV1, any(map[string]any{
				"buildDefinition": map[string]any{"buildType": "https://example.com/build/v1", "externalParameters": map[string]any{"ref": name}},
				"runDetails":      map[string]any{"builder": map[string]any{"id": "https://ci.example.com/builder/" + signer.ID()[7:15]}},
			})
			if j > 0 {
				ptype, pred = predicate.Approval, map[string]any{"decision": "approved", "scope": []string{"qa", "security", "legal"}[j%3]}
			}
			stmt, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1",
				"subject":       []any{map[string]any{"name": name, "digest": map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")}}},
				"predicateType": ptype, "predicate": pred})
			env, err := record.Sign(record.InTotoPayloadType, stmt, signer)
			if err != nil {
				return nil, err
			}
			b, _ := json.Marshal(env)
			items = append(items, Item{Body: b, Kind: "attestation"})
		}
	}
	return items, nil
}

// Setup registers the workload's identities and uploads its blobs.
func (w *Workload) Setup(ctx context.Context, base string, hc *http.Client, workers int) error {
	for _, id := range w.Identities {
		st, body, err := post(ctx, hc, base+"/api/v1/entries?wait=true", id)
		if err != nil {
			return err
		}
		if st != http.StatusCreated && !strings.Contains(string(body), "identity_exists") {
			return fmt.Errorf("registering an identity: %d %s", st, body)
		}
	}
	type job struct {
		d string
		b []byte
	}
	jobs := make(chan job)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/api/v1/blobs/"+j.d, bytes.NewReader(j.b))
				resp, err := hc.Do(req)
				if err == nil {
					drain(resp)
					if resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("uploading a blob: HTTP %d", resp.StatusCode)
					}
				}
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
			}
		}()
	}
	for d, b := range w.Blobs {
		select {
		case jobs <- job{d, b}:
		case err := <-errc:
			close(jobs)
			wg.Wait()
			return err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}
