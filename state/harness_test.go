package state

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// harness drives the state machine over a Memory with real signatures.
type harness struct {
	t     *testing.T
	m     *Memory
	now   time.Time
	index uint64
	// self is the registry the state machine runs for, if it moves
	// packages.
	self *Location
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, m: NewMemory(), now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (h *harness) key(typ keys.Type) *keys.PrivateKey {
	k, err := keys.Generate(typ)
	if err != nil {
		h.t.Fatal(err)
	}
	return k
}

// entry signs a record and parses it the way the server does.
func (h *harness) entry(r *record.Record, signers ...*keys.PrivateKey) *record.Entry {
	if r.Time == "" {
		r.Time = h.now.Format(time.RFC3339)
	}
	env, err := record.SignRecord(r, signers...)
	if err != nil {
		h.t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	env2, payload, err := record.ParseEnvelope(b)
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := record.NewRecordEntry(env2, payload)
	if err != nil {
		h.t.Fatalf("record refused before the state machine: %v", err)
	}
	return e
}

// try applies a record and commits it if accepted.
func (h *harness) try(r *record.Record, signers ...*keys.PrivateKey) error {
	h.t.Helper()
	return h.tryEntry(h.entry(r, signers...))
}

func (h *harness) tryEntry(e *record.Entry) error {
	c, err := Apply(h.m, e, Env{Index: h.index, Time: h.now, Self: h.self})
	if err != nil {
		return err
	}
	h.m.Commit(c, h.index)
	h.index++
	return nil
}

func (h *harness) must(r *record.Record, signers ...*keys.PrivateKey) {
	h.t.Helper()
	if err := h.try(r, signers...); err != nil {
		h.t.Fatalf("%s: %v", r.Type, err)
	}
}

// refused checks that a record is refused with code.
func (h *harness) refused(code Code, r *record.Record, signers ...*keys.PrivateKey) {
	h.t.Helper()
	err := h.try(r, signers...)
	rf, ok := AsRefusal(err)
	if !ok || rf.Code != code {
		h.t.Fatalf("%s: got %v, want refusal %s", r.Type, err, code)
	}
}

func (h *harness) register(k *keys.PrivateKey) {
	h.t.Helper()
	h.must(&record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k)
}

func (h *harness) genesis(op *keys.PrivateKey) {
	h.t.Helper()
	h.must(&record.Record{Type: record.TypeGenesis, PublicKeys: []string{op.Public().Base64()}}, op)
}

// head returns the current head of a package chain.
func (h *harness) head(pkg string) string {
	if p := h.m.Packages[pkg]; p != nil {
		return p.Head
	}
	return ""
}

func (h *harness) opHead() string {
	if h.m.Ops != nil {
		return h.m.Ops.Head
	}
	return ""
}

func size(n int64) *int64 { return &n }

const digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
