package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

func do(t *testing.T, method, url string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// TestHostileRequests sends malformed, oversized and tricky requests: each
// gets a 4xx with a JSON error naming the problem, never a 5xx.
func TestHostileRequests(t *testing.T) {
	var logs logLines
	env := testreg.Start(t, testreg.Options{Logger: logs.logger()})
	k := env.Key(keys.Ed25519)
	good, _ := record.SignRecord(&record.Record{Type: record.TypeCreate, Package: "a/b", Owners: []string{k.ID()}, Time: "2026-01-01T00:00:00Z"}, k)
	goodJSON, _ := json.Marshal(good)
	stranger, _ := keys.Generate(keys.Ed25519)
	unknown, _ := record.SignRecord(&record.Record{Type: record.TypeCreate, Package: "a/c", Owners: []string{stranger.ID()}, Time: "2026-01-01T00:00:00Z"}, stranger)
	unknownJSON, _ := json.Marshal(unknown)
	relabelled := *good
	relabelled.Signatures = []dsse.Signature{{KeyID: k.ID(), Sig: unknown.Signatures[0].Sig}}
	relabelledJSON, _ := json.Marshal(relabelled)

	big, _ := record.Sign(record.PayloadType, []byte(`{"type":"identity","x":"`+strings.Repeat("a", 40<<10)+`"}`), k)
	bigRecord, _ := json.Marshal(big)
	cases := []struct {
		name, method, path string
		body               []byte
		status             int
		code               string
	}{
		{"empty body", "POST", "/api/v1/entries", nil, 400, "malformed"},
		{"not json", "POST", "/api/v1/entries", []byte("hello"), 400, "malformed"},
		{"json array", "POST", "/api/v1/entries", []byte("[]"), 400, "malformed"},
		{"huge body", "POST", "/api/v1/entries", bytes.Repeat([]byte("a"), 23<<20), 413, "too_large"},
		{"large record", "POST", "/api/v1/entries", bigRecord, 413, "too_large"},
		{"bad wait", "POST", "/api/v1/entries?wait=maybe", goodJSON, 400, "bad_request"},
		{"unknown key", "POST", "/api/v1/entries", unknownJSON, 403, "unknown_key"},
		{"wrong signature", "POST", "/api/v1/entries", relabelledJSON, 400, "bad_signature"},
		{"wrapper with junk", "POST", "/api/v1/entries", []byte(`{"envelope":` + string(goodJSON) + `,"junk":1}`), 400, "malformed"},
		{"note without reference", "POST", "/api/v1/entries", []byte(`{"envelope":` + string(goodJSON) + `,"note":"hi"}`), 400, "malformed"},
		{"entry not a number", "GET", "/api/v1/entries/abc", nil, 400, "bad_request"},
		{"entry negative", "GET", "/api/v1/entries/-1", nil, 400, "bad_request"},
		{"entry huge", "GET", "/api/v1/entries/99999999999999999999999", nil, 400, "bad_request"},
		{"entry beyond log", "GET", "/api/v1/entries/1000", nil, 404, "not_found"},
		{"entry size beyond", "GET", "/api/v1/entries/0?size=1000", nil, 400, "bad_request"},
		{"entry size zero", "GET", "/api/v1/entries/0?size=0", nil, 400, "bad_request"},
		{"entry with a capitalised field", "POST", "/api/v1/entries", bytes.Replace(goodJSON, []byte(`"payloadType"`), []byte(`"PayloadType"`), 1), 400, "malformed"},
		{"query where too costly", "GET", "/api/v1/query?where=" + url.QueryEscape("[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(a, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(b, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(c, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(d, a+b+c+d > 0))))"), nil, 422, "where_too_expensive"},
		{"query since the dawn of time", "GET", "/api/v1/query?since=0001-01-02T00:00:00Z", nil, 200, ""},
		{"query until the end of time", "GET", "/api/v1/query?until=9999-12-31T23:59:59Z", nil, 200, ""},
		{"entry not in size", "GET", "/api/v1/entries/1?size=1", nil, 400, "bad_request"},
		{"consistency no from", "GET", "/api/v1/proof/consistency", nil, 400, "bad_request"},
		{"consistency reversed", "GET", "/api/v1/proof/consistency?from=2&to=1", nil, 400, "bad_request"},
		{"consistency beyond", "GET", "/api/v1/proof/consistency?from=1&to=99", nil, 400, "bad_request"},
		{"inclusion beyond", "GET", "/api/v1/proof/inclusion?index=0&size=99", nil, 400, "bad_request"},
		{"inclusion out of tree", "GET", "/api/v1/proof/inclusion?index=5&size=1", nil, 400, "bad_request"},
		{"tile missing", "GET", "/log/tile/0/001", nil, 404, "not_found"},
		{"tile bad level", "GET", "/log/tile/64/000", nil, 404, "not_found"},
		{"tile not padded", "GET", "/log/tile/0/0", nil, 404, "not_found"},
		{"tile traversal", "GET", "/log/tile/../../etc/passwd", nil, 404, ""},
		{"tile bad width", "GET", "/log/tile/0/000.p/256", nil, 404, "not_found"},
		{"tile zero width", "GET", "/log/tile/0/000.p/0", nil, 404, "not_found"},
		{"tile too wide", "GET", "/log/tile/0/000.p/200", nil, 404, "not_found"},
		{"bundle missing", "GET", "/log/tile/entries/x001/000", nil, 404, "not_found"},
		{"unknown endpoint", "GET", "/api/v1/nope", nil, 404, "not_found"},
		{"query unknown param", "GET", "/api/v1/query?color=red", nil, 400, "bad_request"},
		{"query bad cursor", "GET", "/api/v1/query?cursor=%%%", nil, 400, "bad_request"},
		{"query forged cursor", "GET", "/api/v1/query?cursor=djE6OTk5OTk6MQ", nil, 400, "bad_request"},
		{"query bad at", "GET", "/api/v1/query?at=99999999999999999999", nil, 400, "bad_request"},
		{"query at zero", "GET", "/api/v1/query?at=0", nil, 400, "bad_request"},
		{"query bad asof", "GET", "/api/v1/query?asof=yesterday", nil, 400, "bad_request"},
		{"query at and asof", "GET", "/api/v1/query?at=1&asof=2026-01-01T00:00:00Z", nil, 400, "bad_request"},
		{"query bad include", "GET", "/api/v1/query?include=secret", nil, 400, "bad_request"},
		{"query bad state", "GET", "/api/v1/query?state=all", nil, 400, "bad_request"},
		{"query bad kind", "GET", "/api/v1/query?kind=other", nil, 400, "bad_request"},
		{"query bad subject", "GET", "/api/v1/query?subject=../etc", nil, 400, "bad_request"},
		{"query bad signer", "GET", "/api/v1/query?signer=alice", nil, 400, "bad_request"},
		{"query version alone", "GET", "/api/v1/query?version=1.0.0", nil, 400, "bad_request"},
		{"query bad order", "GET", "/api/v1/query?order=random", nil, 400, "bad_request"},
		{"query huge limit", "GET", "/api/v1/query?limit=100000", nil, 400, "bad_request"},
		{"query bad where", "GET", "/api/v1/query?where=%28", nil, 400, "bad_where"},
		{"package traversal", "GET", "/api/v1/packages/..%2F..%2Fetc", nil, 400, "bad_request"},
		{"package too long", "GET", "/api/v1/packages/" + strings.Repeat("a", 300), nil, 400, "bad_request"},
		{"package unknown", "GET", "/api/v1/packages/no%2Fsuch", nil, 404, "unknown_package"},
		{"version with space", "GET", "/api/v1/packages/a%2Fb/versions/1%200", nil, 400, "bad_request"},
		{"blob bad digest", "GET", "/api/v1/blobs/sha256:..%2F..%2Fetc", nil, 400, "bad_request"},
		{"blob put bad digest", "PUT", "/api/v1/blobs/md5:abc", []byte("x"), 400, "bad_request"},
		{"blob unknown", "GET", "/api/v1/blobs/sha256:" + strings.Repeat("0", 64), nil, 404, "not_found"},
		{"identity bad id", "GET", "/api/v1/identities/alice", nil, 400, "bad_request"},
		{"statements bad count", "GET", "/api/v1/statements?from=0&count=1000", nil, 400, "bad_request"},
		{"statements zero count", "GET", "/api/v1/statements?from=0&count=0", nil, 400, "bad_request"},
		{"statements beyond", "GET", "/api/v1/statements?from=999", nil, 400, "bad_request"},
		{"attestation of a record", "GET", "/api/v1/attestations/0", nil, 400, "bad_request"},
		{"admin garbage", "POST", "/api/v1/admin", []byte("{}"), 400, "malformed"},
		{"admin wrong type", "POST", "/api/v1/admin", goodJSON, 400, "malformed"},
		{"wrong method", "DELETE", "/api/v1/entries", nil, 405, "method_not_allowed"},
		{"wrong method on tiles", "POST", "/log/checkpoint", nil, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body, h := do(t, c.method, env.URL+c.path, c.body)
			if st != c.status {
				t.Fatalf("status %d, want %d: %s", st, c.status, body)
			}
			if c.code == "" {
				return
			}
			var eb api.ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != c.code || eb.Error.Message == "" {
				t.Fatalf("error body %s (want code %s)", body, c.code)
			}
			if !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Fatalf("content type %q", h.Get("Content-Type"))
			}
		})
	}
	// The good record still goes in, and a replay of it is refused.
	if st, body, _ := do(t, "POST", env.URL+"/api/v1/entries", goodJSON); st != 201 {
		t.Fatalf("good record: %d %s", st, body)
	}
	if st, _, _ := do(t, "POST", env.URL+"/api/v1/entries", goodJSON); st != 409 {
		t.Fatalf("replay: %d", st)
	}
	logs.noErrors(t)
}

func TestTileHeaders(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	for i := 0; i < 300; i++ {
		k, _ := keys.Generate(keys.Ed25519)
		env.Submit(env.Client(), &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}, k)
	}
	st, body, h := do(t, "GET", env.URL+"/log/tile/0/000", nil)
	if st != 200 || len(body) != 8192 || !strings.Contains(h.Get("Cache-Control"), "immutable") || h.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("full tile: %d, %d bytes, %v", st, len(body), h)
	}
	st, _, h = do(t, "GET", env.URL+"/log/checkpoint", nil)
	if st != 200 || h.Get("Content-Type") != "text/plain; charset=utf-8" || strings.Contains(h.Get("Cache-Control"), "immutable") {
		t.Fatalf("checkpoint: %d %v", st, h)
	}
	st, body, _ = do(t, "GET", env.URL+"/log/tile/0/001.p/45", nil)
	if st != 200 || len(body) != 45*32 {
		t.Fatalf("partial tile: %d, %d bytes", st, len(body))
	}
}
