package api

import (
	"encoding/json"
	"testing"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// FuzzParseSubmission checks that no body makes the submission parser panic,
// and that everything it refuses is refused as a client mistake.
func FuzzParseSubmission(f *testing.F) {
	k, _ := keys.Generate(keys.Ed25519)
	env, _ := record.SignRecord(&record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64(), Time: "2026-01-01T00:00:00Z"}, k)
	b, _ := json.Marshal(env)
	f.Add(b)
	f.Add([]byte(`{"envelope":` + string(b) + `,"note":"x"}`))
	f.Add([]byte(`{"envelope":null}`))
	stmt, _ := record.Sign(record.InTotoPayloadType, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"`+
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"+`"}}],"predicateType":"x","predicate":{}}`), k)
	sb, _ := json.Marshal(stmt)
	f.Add(sb)
	f.Fuzz(func(t *testing.T, body []byte) {
		sub, err := ParseSubmission(body, 1<<20)
		if err != nil {
			if _, ok := state.AsRefusal(err); !ok {
				t.Fatalf("error is not a refusal: %v", err)
			}
			return
		}
		if sub.Entry == nil && sub.Envelope == nil {
			t.Fatal("accepted a submission with nothing in it")
		}
	})
}
