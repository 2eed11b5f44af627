package record

import (
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"github.com/vouchdev/vouch/keys"
)

// signedEntries returns n create records signed alternately by an Ed25519
// and a P-256 key (every third by both), and a lookup for the keys.
func signedEntries(t testing.TB, n int) ([]*Entry, KeyLookup) {
	t.Helper()
	ed, err := keys.Generate(keys.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*keys.PublicKey{ed.ID(): ed.Public(), ec.ID(): ec.Public()}
	lookup := func(id string) (*keys.PublicKey, error) {
		if p, ok := byID[id]; ok {
			return p, nil
		}
		return nil, fmt.Errorf("unknown key %s", id)
	}
	out := make([]*Entry, n)
	for i := range out {
		r := &Record{Type: TypeCreate, Package: fmt.Sprintf("acme/widget-%d", i), Owners: []string{ed.ID()}, Time: "2026-11-30T00:00:00Z"}
		signers := []*keys.PrivateKey{ed}
		switch {
		case i%3 == 2:
			signers = append(signers, ec)
		case i%2 == 1:
			signers = []*keys.PrivateKey{ec}
		}
		env, err := SignRecord(r, signers...)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(env.Payload)
		if out[i], err = NewRecordEntry(env, raw); err != nil {
			t.Fatal(err)
		}
	}
	return out, lookup
}

// noLookup fails every lookup: Verify succeeds with it only for an entry
// already verified.
func noLookup(string) (*keys.PublicKey, error) { return nil, errors.New("not looked up") }

// TestVerifyBatch: a batch of good signatures verifies every entry; one
// bad Ed25519 signature leaves the whole batch to Verify, which finds it
// and passes the others; entries with unknown keys are left alone.
func TestVerifyBatch(t *testing.T) {
	es, lookup := signedEntries(t, 12)
	VerifyBatch(es, lookup)
	for i, e := range es {
		if err := e.Verify(noLookup); err != nil {
			t.Fatalf("entry %d not verified by the batch: %v", i, err)
		}
	}

	es, lookup = signedEntries(t, 12)
	sig, _ := base64.StdEncoding.DecodeString(es[4].Envelope.Signatures[0].Sig)
	sig[10] ^= 1
	es[4].Envelope.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
	VerifyBatch(es, lookup)
	for i, e := range es {
		if err := e.Verify(noLookup); err == nil {
			t.Fatalf("entry %d counted as verified though the batch held a bad signature", i)
		}
		err := e.Verify(lookup)
		var se *SignatureError
		if (i == 4) != errors.As(err, &se) || i != 4 && err != nil {
			t.Fatalf("entry %d after the failed batch: %v", i, err)
		}
	}

	es, _ = signedEntries(t, 4)
	VerifyBatch(es, noLookup)
	for i, e := range es {
		if err := e.Verify(noLookup); err == nil {
			t.Fatalf("entry %d verified without its keys", i)
		}
	}
}

// BenchmarkVerifyBatch compares checking 256 Ed25519-signed records one
// by one with checking them in a batch.
func BenchmarkVerifyBatch(b *testing.B) {
	ed, _ := keys.Generate(keys.Ed25519)
	lookup := func(string) (*keys.PublicKey, error) { return ed.Public(), nil }
	envs := make([]*Entry, 256)
	for i := range envs {
		env, _ := SignRecord(&Record{Type: TypeCreate, Package: fmt.Sprintf("acme/widget-%d", i), Owners: []string{ed.ID()}, Time: "2026-11-30T00:00:00Z"}, ed)
		raw, _ := base64.StdEncoding.DecodeString(env.Payload)
		var err error
		if envs[i], err = NewRecordEntry(env, raw); err != nil {
			b.Fatal(err)
		}
	}
	fresh := func() []*Entry {
		out := make([]*Entry, len(envs))
		for i, e := range envs {
			c := *e
			c.signers = nil
			out[i] = &c
		}
		return out
	}
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			for _, e := range fresh() {
				if err := e.Verify(lookup); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(envs))/1000, "µs/signature")
	})
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			es := fresh()
			VerifyBatch(es, lookup)
			if es[0].signers == nil {
				b.Fatal("not verified")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(envs))/1000, "µs/signature")
	})
}
