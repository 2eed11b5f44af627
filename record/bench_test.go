package record

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/keys"
)

func benchRelease(b *testing.B) ([]byte, *keys.PrivateKey) {
	k, _ := keys.Generate(keys.Ed25519)
	size := int64(96)
	env, err := SignRecord(&Record{Type: TypeRelease, Package: "bench/c1/p1", Prev: Hash([]byte("x")), Version: "1.2.0",
		Digest: Hash([]byte("y")), Size: &size, MediaType: "application/octet-stream", Channel: ChannelPublished, Time: "2026-11-25T00:00:00Z"}, k)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(env)
	return body, k
}

// BenchmarkParseRecordEnvelope is the syntax check of every submitted record.
func BenchmarkParseRecordEnvelope(b *testing.B) {
	body, _ := benchRelease(b)
	b.ReportAllocs()
	for b.Loop() {
		env, payload, err := ParseEnvelope(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := NewRecordEntry(env, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRecord checks one Ed25519 signature through the DSSE library.
func BenchmarkVerifyRecord(b *testing.B) {
	body, k := benchRelease(b)
	env, payload, _ := ParseEnvelope(body)
	lookup := func(string) (*keys.PublicKey, error) { return k.Public(), nil }
	b.ReportAllocs()
	for b.Loop() {
		e, _ := NewRecordEntry(env, payload)
		if err := e.Verify(lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseStatement parses an in-toto statement with the attestation library.
func BenchmarkParseStatement(b *testing.B) {
	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"bench/c1/p1","digest":{"sha256":"` + strings.Repeat("ab", 32) +
		`"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://example.com/build/v1","externalParameters":{"ref":"x"}},"runDetails":{"builder":{"id":"https://ci.example.com/builder"}}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStatement(stmt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckJSON is the duplicate-key and depth check, on a record
// and on statements whose predicate has 100,000 and 1,000,000 keys: the
// check must stay linear in the input (it once took 14.5 s for 20,000).
func BenchmarkCheckJSON(b *testing.B) {
	body, _ := benchRelease(b)
	b.Run("record", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := checkJSON(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, n := range []int{100_000, 1_000_000} {
		doc := manyKeyStatement(n)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if err := checkJSON(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseLargeStatement parses a statement whose predicate has
// 100,000 keys.
func BenchmarkParseLargeStatement(b *testing.B) {
	doc := manyKeyStatement(100_000)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStatement(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// manyKeyStatement is an in-toto statement whose predicate has n keys.
func manyKeyStatement(n int) []byte {
	var s strings.Builder
	s.WriteString(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"` + strings.Repeat("ab", 32) +
		`"}}],"predicateType":"https://example.com/big/v1","predicate":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			s.WriteByte(',')
		}
		fmt.Fprintf(&s, `"k%07d":"v"`, i)
	}
	s.WriteString("}}")
	return []byte(s.String())
}
