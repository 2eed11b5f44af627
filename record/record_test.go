package record

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch/keys"
)

func TestValidateName(t *testing.T) {
	good := []string{"a", "acme/widget", "a.b_c-d/0", "x/y/z", strings.Repeat("a", 200)}
	bad := []string{"", "/a", "a/", "a//b", "Acme", "-a", ".", "..", "a/../b", "a/./b", "_a", "a b", "a@b", "a\x00b",
		strings.Repeat("a", 201), "ä", "a/.hidden", "%2e%2e",
		// A separator may not lead, trail or follow another.
		"acme/widget.", "acme/wid..get", "acme/wid-_get", "acme/widget-", "acme_/widget"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); err == nil {
			t.Errorf("ValidateName(%q) accepted", n)
		}
	}
	if n, v, err := ParseRef("Acme/Widget@1.0.0"); err != nil || n != "acme/widget" || v != "1.0.0" {
		t.Errorf("ParseRef = %q %q %v", n, v, err)
	}
	for _, n := range []string{"acme/wid-get", "acme/wid_get", "acme/wid.get", "acme/widget"} {
		if k := NameKey(n); k != "acme/widget" {
			t.Errorf("NameKey(%q) = %q", n, k)
		}
	}
	if NameKey("acme/widget") == NameKey("acme/widgets") || NameKey("a-b/c") == NameKey("a/bc") {
		t.Error("NameKey merges names that differ in letters or segments")
	}
}

func TestValidatePredicateType(t *testing.T) {
	for _, s := range []string{"https://slsa.dev/provenance/v1", "urn:example:qa:v1", "http://x.test/p"} {
		if err := ValidatePredicateType(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "notauri", "/relative/path", "slsa.dev/provenance/v1", "https://", strings.Repeat("a", 1025)} {
		if err := ValidatePredicateType(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestValidateVersion(t *testing.T) {
	for _, v := range []string{"1.0.0", "1.0.0-rc.1", "2026.11.25", "0.0.1-alpha.beta.7", "1.2.3-x-y-z.0a"} {
		if err := ValidateVersion(v); err != nil {
			t.Errorf("ValidateVersion(%q) = %v", v, err)
		}
	}
	// Not SemVer 2.0.0, or SemVer whose build metadata would let two
	// releases differ only by it.
	for _, v := range []string{"", "1 0", "1\t0", "1\n", strings.Repeat("9", 129), "é", "\x7f", "v2", "v1.0.0", "1.0", "1",
		"1.0.0+build", "1.0.0-rc.1+build.5", "../1", "01.0.0", "1.0.0-rc.01", "1.0.0-", "a@b", "1.0.0.0"} {
		if err := ValidateVersion(v); err == nil {
			t.Errorf("ValidateVersion(%q) accepted", v)
		}
	}
}

func mustKey(t testing.TB, typ keys.Type) *keys.PrivateKey {
	k, err := keys.Generate(typ)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseRecord(t *testing.T) {
	k := mustKey(t, keys.Ed25519)
	id := k.ID()
	prev := Hash([]byte("x"))
	cases := []struct {
		name, payload, want string // want: "" = ok, else a substring of the error
	}{
		{"identity", `{"type":"identity","publicKey":"` + k.Public().Base64() + `","time":"2026-01-01T00:00:00Z"}`, ""},
		{"create", `{"type":"create","package":"a/b","owners":["` + id + `"],"time":"2026-01-01T00:00:00Z"}`, ""},
		{"unknown type", `{"type":"frobnicate","time":"2026-01-01T00:00:00Z"}`, "unknown record type"},
		{"no time", `{"type":"create","package":"a/b","owners":["` + id + `"]}`, "time is required"},
		{"bad time", `{"type":"create","package":"a/b","owners":["` + id + `"],"time":"yesterday"}`, "RFC 3339"},
		{"unknown field", `{"type":"create","package":"a/b","owners":["` + id + `"],"time":"2026-01-01T00:00:00Z","email":"me@example.com"}`, "unknown field"},
		{"duplicate key", `{"type":"create","package":"a/b","package":"c/d","owners":["` + id + `"],"time":"2026-01-01T00:00:00Z"}`, "duplicate"},
		{"missing owners", `{"type":"create","package":"a/b","time":"2026-01-01T00:00:00Z"}`, "owners is required"},
		{"prev on create", `{"type":"create","package":"a/b","prev":"` + prev + `","owners":["` + id + `"],"time":"2026-01-01T00:00:00Z"}`, "prev is not allowed"},
		{"bad name", `{"type":"create","package":"A/B","owners":["` + id + `"],"time":"2026-01-01T00:00:00Z"}`, "lower case"},
		{"traversal name", `{"type":"create","package":"a/../b","owners":["` + id + `"],"time":"2026-01-01T00:00:00Z"}`, "segment"},
		{"bad owner", `{"type":"create","package":"a/b","owners":["alice"],"time":"2026-01-01T00:00:00Z"}`, "not a key ID"},
		{"dup owner", `{"type":"create","package":"a/b","owners":["` + id + `","` + id + `"],"time":"2026-01-01T00:00:00Z"}`, "twice"},
		{"bad key", `{"type":"identity","publicKey":"AAAA","time":"2026-01-01T00:00:00Z"}`, "publicKey"},
		{"release", `{"type":"release","package":"a/b","prev":"` + prev + `","version":"1.0.0","digest":"` + prev + `","size":3,"mediaType":"application/octet-stream","channel":"published","time":"2026-01-01T00:00:00Z"}`, ""},
		{"release negative size", `{"type":"release","package":"a/b","prev":"` + prev + `","version":"1.0.0","digest":"` + prev + `","size":-3,"mediaType":"application/octet-stream","channel":"published","time":"2026-01-01T00:00:00Z"}`, "out of range"},
		{"release bad channel", `{"type":"release","package":"a/b","prev":"` + prev + `","version":"1.0.0","digest":"` + prev + `","size":3,"mediaType":"application/octet-stream","channel":"beta","time":"2026-01-01T00:00:00Z"}`, "channel"},
		{"release file url", `{"type":"release","package":"a/b","prev":"` + prev + `","version":"1.0.0","digest":"` + prev + `","size":3,"mediaType":"a/b","channel":"staged","url":"file:///etc/passwd","time":"2026-01-01T00:00:00Z"}`, "http"},
		{"not an object", `[1,2,3]`, "record payload"},
		{"trailing", `{"type":"identity","publicKey":"` + k.Public().Base64() + `","time":"2026-01-01T00:00:00Z"} {}`, "after top-level value"},
		{"bad utf8", "{\"type\":\"identity\xff\"}", "UTF-8"},
		{"deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), "nested"},
		{"yank bad reason", `{"type":"yank","package":"a/b","prev":"` + prev + `","version":"1.0.0","reason":"Because I said so","time":"2026-01-01T00:00:00Z"}`, "reason"},
		{"actor bogus", `{"type":"yank","actor":"root","package":"a/b","prev":"` + prev + `","version":"1.0.0","reason":"security","time":"2026-01-01T00:00:00Z"}`, "actor"},
		{"actor on release", `{"type":"release","actor":"operator","package":"a/b","prev":"` + prev + `","version":"1.0.0","digest":"` + prev + `","size":3,"mediaType":"a/b","channel":"staged","time":"2026-01-01T00:00:00Z"}`, "not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.payload))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted; want error containing %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
	if len(Types()) != len(rules) {
		t.Fatal("Types() is incomplete")
	}
}

func signedEntry(t testing.TB, r *Record, signers ...*keys.PrivateKey) *Entry {
	env, err := SignRecord(r, signers...)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	env2, payload, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewRecordEntry(env2, payload)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestVerifyBothKeyTypes(t *testing.T) {
	for _, typ := range []keys.Type{keys.Ed25519, keys.ECDSAP256} {
		t.Run(string(typ), func(t *testing.T) {
			k := mustKey(t, typ)
			owner := mustKey(t, keys.Ed25519)
			reg := map[string]*keys.PublicKey{k.ID(): k.Public(), owner.ID(): owner.Public()}
			lookup := func(id string) (*keys.PublicKey, error) { return reg[id], nil }

			// An identity record verifies with the key it embeds.
			e := signedEntry(t, &Record{Type: TypeIdentity, PublicKey: k.Public().Base64(), Time: "2026-01-01T00:00:00Z"}, k)
			if err := e.Verify(func(string) (*keys.PublicKey, error) { return nil, nil }); err != nil {
				t.Fatal(err)
			}
			// A record signed by two registered keys.
			e = signedEntry(t, &Record{Type: TypeCreate, Package: "a/b", Owners: []string{k.ID()}, Time: "2026-01-01T00:00:00Z"}, k, owner)
			if err := e.Verify(lookup); err != nil {
				t.Fatal(err)
			}
			if got := e.Signers(); len(got) != 2 || got[0] != k.ID() || got[1] != owner.ID() {
				t.Fatalf("signers = %v", got)
			}
			// Unknown key.
			stranger := mustKey(t, typ)
			e = signedEntry(t, &Record{Type: TypeCreate, Package: "a/b", Owners: []string{k.ID()}, Time: "2026-01-01T00:00:00Z"}, stranger)
			var uk *UnknownKeyError
			if err := e.Verify(lookup); !errors.As(err, &uk) {
				t.Fatalf("unknown key: %v", err)
			}
			// A signature relabelled with another key's ID does not verify.
			env, _ := SignRecord(&Record{Type: TypeCreate, Package: "a/b", Owners: []string{k.ID()}, Time: "2026-01-01T00:00:00Z"}, stranger)
			env.Signatures[0].KeyID = k.ID()
			e = mustEntry(t, env)
			var se *SignatureError
			if err := e.Verify(lookup); !errors.As(err, &se) {
				t.Fatalf("relabelled signature: %v", err)
			}
			// A tampered payload does not verify.
			env, _ = SignRecord(&Record{Type: TypeCreate, Package: "a/b", Owners: []string{k.ID()}, Time: "2026-01-01T00:00:00Z"}, k)
			p, _ := base64.StdEncoding.DecodeString(env.Payload)
			p = []byte(strings.Replace(string(p), "a/b", "a/c", 1))
			env.Payload = base64.StdEncoding.EncodeToString(p)
			if err := mustEntry(t, env).Verify(lookup); !errors.As(err, &se) {
				t.Fatalf("tampered payload: %v", err)
			}
			// One good and one bad signature: refused as a whole.
			env, _ = SignRecord(&Record{Type: TypeCreate, Package: "a/b", Owners: []string{k.ID()}, Time: "2026-01-01T00:00:00Z"}, k, owner)
			sig, _ := base64.StdEncoding.DecodeString(env.Signatures[1].Sig)
			sig[3] ^= 0xff
			env.Signatures[1].Sig = base64.StdEncoding.EncodeToString(sig)
			if err := mustEntry(t, env).Verify(lookup); !errors.As(err, &se) || se.Index != 1 {
				t.Fatalf("one bad signature: %v", err)
			}
		})
	}
}

func mustEntry(t testing.TB, env *dsse.Envelope) *Entry {
	t.Helper()
	b, _ := json.Marshal(env)
	env2, payload, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewRecordEntry(env2, payload)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEnvelopeRefusals(t *testing.T) {
	k := mustKey(t, keys.Ed25519)
	env, _ := SignRecord(&Record{Type: TypeIdentity, PublicKey: k.Public().Base64(), Time: "2026-01-01T00:00:00Z"}, k)
	good, _ := json.Marshal(env)
	for name, body := range map[string]string{
		"empty":        `{}`,
		"no sigs":      `{"payloadType":"application/vnd.vouch.record+json","payload":"e30=","signatures":[]}`,
		"bad base64":   `{"payloadType":"application/vnd.vouch.record+json","payload":"***","signatures":[{"keyid":"x","sig":"AA=="}]}`,
		"extra field":  strings.Replace(string(good), `"payloadType"`, `"extra":1,"payloadType"`, 1),
		"dup field":    strings.Replace(string(good), `"payloadType"`, `"payload":"e30=","payloadType"`, 1),
		"not json":     `hello`,
		"sig too long": `{"payloadType":"x","payload":"e30=","signatures":[{"keyid":"x","sig":"` + strings.Repeat("A", 4000) + `"}]}`,
	} {
		if _, _, err := ParseEnvelope([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Two signatures with the same key ID are refused.
	env.Signatures = append(env.Signatures, env.Signatures[0])
	b, _ := json.Marshal(env)
	env2, payload, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRecordEntry(env2, payload); err == nil {
		t.Error("duplicate signer accepted")
	}
	// Another payload type is not a record.
	env3, _ := Sign("text/plain", []byte("hi"), k)
	b, _ = json.Marshal(env3)
	env4, payload, _ := ParseEnvelope(b)
	if _, err := NewRecordEntry(env4, payload); err == nil {
		t.Error("text/plain accepted as a record")
	}
}

func TestLeafRoundTrip(t *testing.T) {
	k := mustKey(t, keys.ECDSAP256)
	e := signedEntry(t, &Record{Type: TypeIdentity, PublicKey: k.Public().Base64(), Time: "2026-01-01T00:00:00Z"}, k)
	when := time.Date(2026, 11, 25, 17, 0, 0, 123456789, time.UTC)
	leaf, err := e.Leaf(when)
	if err != nil {
		t.Fatal(err)
	}
	var l Leaf
	if err := json.Unmarshal(leaf, &l); err != nil {
		t.Fatal(err)
	}
	std, _ := json.Marshal(l)
	if string(std) != string(leaf) {
		t.Fatalf("leaf is not json.Marshal(Leaf):\n%s\n%s", leaf, std)
	}
	back, err := ParseLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(when) || back.Record.Type != TypeIdentity || back.Hash() != e.Hash() {
		t.Fatalf("round trip lost data: %+v", back)
	}
	// A leaf with its envelope re-encoded differently is not canonical.
	alt := strings.Replace(string(leaf), `{"v":1,`, `{"v":1 ,`, 1)
	if _, err := ParseLeaf([]byte(alt)); err == nil {
		t.Fatal("non-canonical leaf accepted")
	}
	// Big records are refused before they reach the log.
	big := &Record{Type: TypeCreate, Package: "a/b", Time: "2026-01-01T00:00:00Z"}
	for i := 0; i < MaxOwners; i++ {
		big.Owners = append(big.Owners, mustKey(t, keys.Ed25519).ID())
	}
	env, _ := SignRecord(big, k)
	if _, err := NewRecordEntry(env, mustPayload(env)); err != nil {
		t.Fatalf("32 owners: %v", err)
	}
}

func mustPayload(env *dsse.Envelope) []byte {
	p, _ := env.DecodeB64Payload()
	return p
}
