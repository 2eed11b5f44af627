package registry

import (
	"fmt"
	"slices"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
)

// batchView is the state machine's view inside a sequencing transaction: the
// committed state (through the cache, when the store is exclusive) plus the
// changes of the entries accepted earlier in the same batch.
type batchView struct {
	tx       store.SeqTx
	cache    *lru.Cache[string, stateObject]
	overlay  map[string]stateObject
	fetched  map[string]stateObject        // read ahead for this batch (see prefetch)
	subjects map[string][]store.SubjectRef // read ahead for this batch
	contents map[string]bool               // digests released in this batch
	attests  map[string]bool               // dedup keys of this batch's attestations
}

// stateObject is a state object as the view holds it: decoded (nil for an
// absent one), and as stored (state.Encode's bytes).
type stateObject struct {
	value any
	raw   []byte
}

func newBatchView(tx store.SeqTx, cache *lru.Cache[string, stateObject]) *batchView {
	return &batchView{tx: tx, cache: cache, overlay: map[string]stateObject{}, fetched: map[string]stateObject{},
		contents: map[string]bool{}, attests: map[string]bool{}}
}

// prefetch reads, in two queries, the state objects and subject index rows
// the batch's entries will ask for, instead of one query per question: with
// a database across the network, round trips are what sequencing waits on.
func (v *batchView) prefetch(entries []*record.Entry) error {
	keySet := map[string]bool{}
	digestSet := map[string]bool{}
	addID := func(id string) {
		if id != "" {
			keySet[state.IdentityKey(id)] = true
		}
	}
	for _, e := range entries {
		e = e.Unwrap()
		for _, id := range e.KeyIDs() {
			addID(id)
		}
		if a := e.Attestation; a != nil {
			for _, d := range a.Subjects {
				if strings.HasPrefix(d, "sha256:") {
					digestSet[d] = true
				} else {
					keySet[state.ContentAliasKey(d)] = true
				}
			}
			if a.Bundle != nil {
				keySet[state.KeylessKey(a.DedupKey())] = true
			}
			continue
		}
		r := e.Record
		addID(r.KeyID)
		for _, o := range r.Owners {
			addID(o)
		}
		for _, k := range r.EmbeddedKeys() {
			addID(k.ID())
		}
		if r.Type == record.TypeCreate {
			keySet[state.NameHolderKey(record.NameKey(r.Package))] = true
		}
		if r.Package != "" {
			keySet[state.PackageKey(r.Package)] = true
			if r.Version != "" {
				keySet[state.ReleaseKey(r.Package, r.Version)] = true
			}
		}
		if r.Chain() == record.ChainOperator || r.Type == record.TypeDelete {
			keySet[state.OperatorsKey] = true
		}
		if r.Digest != "" {
			digestSet[r.Digest] = true
		}
		for _, d := range e.ContentDigests {
			keySet[state.ContentAliasKey(d)] = true
		}
	}
	var keys []string
	for k := range keySet {
		if v.cache != nil {
			if _, ok := v.cache.Peek(k); ok {
				continue
			}
		}
		keys = append(keys, k)
	}
	if err := v.fetchKeys(keys); err != nil {
		return err
	}
	if len(digestSet) > 0 {
		digests := make([]string, 0, len(digestSet))
		for d := range digestSet {
			digests = append(digests, d)
		}
		subj, err := v.tx.Subjects(digests)
		if err != nil {
			return err
		}
		v.subjects = map[string][]store.SubjectRef{}
		for _, d := range digests {
			v.subjects[d] = subj[d]
		}
	}
	return nil
}

// fetchKeys reads the latest values of state objects in one query, unless
// the batch or the cache holds them already.
func (v *batchView) fetchKeys(keys []string) error {
	var missing []string
	for _, k := range keys {
		if _, ok := v.held(k); !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	vals, err := v.tx.GetMany(missing)
	if err != nil {
		return err
	}
	for _, k := range missing {
		o, err := state.DecodeObject(k, vals[k])
		if err != nil {
			return err
		}
		so := stateObject{o, vals[k]}
		v.fetched[k] = so
		if v.cache != nil {
			v.cache.Add(k, so)
		}
	}
	return nil
}

// subjectsOf returns the logged entries naming a digest.
func (v *batchView) subjectsOf(d string) ([]store.SubjectRef, error) {
	if refs, ok := v.subjects[d]; ok {
		return refs, nil
	}
	m, err := v.tx.Subjects([]string{d})
	if err != nil {
		return nil, err
	}
	return m[d], nil
}

// held returns the latest object under key if the batch or the cache
// holds it.
func (v *batchView) held(key string) (stateObject, bool) {
	if o, ok := v.overlay[key]; ok {
		return o, true
	}
	if o, ok := v.fetched[key]; ok {
		return o, true
	}
	if v.cache != nil {
		return v.cache.Get(key)
	}
	return stateObject{}, false
}

// load returns the latest object under key.
func (v *batchView) load(key string) (stateObject, error) {
	if o, ok := v.held(key); ok {
		return o, nil
	}
	b, err := v.tx.Get(key)
	if err != nil {
		return stateObject{}, err
	}
	o, err := state.DecodeObject(key, b)
	if err != nil {
		return stateObject{}, err
	}
	so := stateObject{o, b}
	if v.cache != nil {
		// What the transaction reads here is committed state: keys this
		// batch wrote are in the overlay.
		v.cache.Add(key, so)
	}
	return so, nil
}

// Stored returns the stored bytes of an object the view has read or the
// batch has written, or nil (vindex.StoredView).
func (v *batchView) Stored(key string) []byte {
	o, _ := v.held(key)
	return o.raw
}

func lookup[T any](v *batchView, key string) (*T, error) {
	so, err := v.load(key)
	if err != nil || so.value == nil {
		return nil, err
	}
	o := so.value
	t, ok := o.(*T)
	if !ok {
		return nil, fmt.Errorf("state object %q is a %T, not a %T", key, o, t)
	}
	return t, nil
}

// commit moves the batch's changes into the cache once they are committed.
func (v *batchView) commit() {
	if v.cache == nil {
		return
	}
	for k, o := range v.overlay {
		v.cache.Add(k, o)
	}
}

func (v *batchView) Identity(id string) (*state.Identity, error) {
	return lookup[state.Identity](v, state.IdentityKey(id))
}
func (v *batchView) Package(name string) (*state.Package, error) {
	return lookup[state.Package](v, state.PackageKey(name))
}
func (v *batchView) Release(name, ver string) (*state.Release, error) {
	return lookup[state.Release](v, state.ReleaseKey(name, ver))
}
func (v *batchView) Operators() (*state.Operators, error) {
	return lookup[state.Operators](v, state.OperatorsKey)
}
func (v *batchView) NameTaken(key string) (string, error) {
	name, err := lookup[string](v, state.NameHolderKey(key))
	if err != nil || name == nil {
		return "", err
	}
	return *name, nil
}

// Content reports whether a release names digest: one of this batch, or
// a logged one (found through the subject index: no state row is written
// for it).
func (v *batchView) Content(d string) (bool, error) {
	if v.contents[d] {
		return true, nil
	}
	refs, err := v.subjectsOf(d)
	if err != nil {
		return false, err
	}
	for _, r := range refs {
		if r.Type == record.TypeRelease {
			return true, nil
		}
	}
	return false, nil
}

// ContentOf returns the sha256 digest of the content a release recorded
// this sha384 or sha512 digest of.
func (v *batchView) ContentOf(d string) (string, error) {
	s, err := lookup[string](v, state.ContentAliasKey(d))
	if err != nil || s == nil {
		return "", err
	}
	return *s, nil
}

// Attestation reports whether the same statement with the same signers is
// already logged, in this batch or before (found through the subject index;
// a keyless one through its state object).
func (v *batchView) Attestation(a *record.AttestationRef) (bool, error) {
	if v.attests[a.DedupKey()] {
		return true, nil
	}
	if a.Bundle != nil {
		k, err := lookup[string](v, state.KeylessKey(a.DedupKey()))
		return k != nil, err
	}
	refs, err := v.subjectsOf(a.Subjects[0])
	if err != nil {
		return false, err
	}
	want := a.Signers()
	slices.Sort(want)
	for _, r := range refs {
		if r.Type != string(record.KindAttestation) || r.PayloadDigest != a.PayloadDigest {
			continue
		}
		got, err := v.tx.Signers(r.Index)
		if err != nil {
			return false, err
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return true, nil
		}
	}
	return false, nil
}

// record notes the changes of an accepted entry in the overlay and returns
// them encoded for the store.
func (v *batchView) record(c *state.Changes) ([]store.KV, error) {
	var kvs []store.KV
	for _, o := range c.Objects() {
		b, err := state.Encode(o.Value)
		if err != nil {
			return nil, err
		}
		v.overlay[o.Key] = stateObject{o.Value, b}
		kvs = append(kvs, store.KV{Key: o.Key, Value: b})
	}
	for _, d := range c.Contents {
		v.contents[d] = true
	}
	for _, k := range c.Attestations {
		v.attests[k] = true
	}
	return kvs, nil
}
