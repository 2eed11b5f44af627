package record

import (
	"encoding/json"
	"testing"

	"github.com/vouchdev/vouch/keys"
)

func seedEnvelope(f *testing.F) []byte {
	k, _ := keys.Generate(keys.Ed25519)
	env, err := SignRecord(&Record{Type: TypeIdentity, PublicKey: k.Public().Base64(), Time: "2026-01-01T00:00:00Z"}, k)
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(env)
	return b
}

// FuzzParseRecord checks that no payload makes the record parser panic, and
// that what it accepts re-validates.
func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"type":"create","package":"a/b","owners":["sha256:0000000000000000000000000000000000000000000000000000000000000000"],"time":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"type":"release","package":"a","prev":"sha256:0000000000000000000000000000000000000000000000000000000000000000","version":"1","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1,"mediaType":"a/b","channel":"staged","time":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"type":"identity","type":"x"}`))
	f.Add([]byte(`[[[[{}]]]]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted record fails Validate: %v", err)
		}
	})
}

// FuzzParseEnvelope checks the envelope parser and record entry constructor.
func FuzzParseEnvelope(f *testing.F) {
	f.Add(seedEnvelope(f))
	f.Add([]byte(`{"payloadType":"x","payload":"","signatures":[{"keyid":"","sig":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, payload, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		if _, _, err := CanonicalEnvelope(env); err != nil {
			t.Fatalf("canonical envelope does not re-parse: %v", err)
		}
		e, err := NewRecordEntry(env, payload)
		if err != nil {
			return
		}
		e.Verify(func(string) (*keys.PublicKey, error) { return nil, nil })
	})
}

// FuzzParseLeaf checks the leaf parser an auditor runs on every entry.
func FuzzParseLeaf(f *testing.F) {
	env, payload, _ := ParseEnvelope(seedEnvelope(f))
	e, _ := NewRecordEntry(env, payload)
	leaf, _ := e.Leaf(e.Time)
	f.Add(leaf)
	f.Add([]byte(`{"v":1,"time":"2026-01-01T00:00:00Z","attestation":{"payloadType":"x","payloadDigest":"sha256:00","payloadSize":1,"predicateType":"p","subjects":[],"signatures":[]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseLeaf(b)
		if err != nil {
			return
		}
		again, err := e.Leaf(e.Time)
		if err != nil || string(again) != string(b) {
			t.Fatalf("accepted leaf does not re-encode to itself")
		}
	})
}
