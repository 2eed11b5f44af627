package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// hostile is what a hostile user writes into every free-text field the
// pages show: markup, a script, quotes of both kinds and an attribute
// breakout.
const hostile = `<script>window.pwned=1</script>"'><img src=x onerror="window.pwned=2"><b>bold</b>`

// reg is a real registry with a package whose releases are in every state,
// and statements from several signers.
type reg struct {
	t   testing.TB
	env *testreg.Env
	c   *client.Client
	ctx context.Context

	alice, bob, builder, qa1, qa2, lab, mallory *keys.PrivateKey
}

func (f *reg) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// key generates a key and registers it, with a profile if one is given.
func (f *reg) key(prof *api.Profile) *keys.PrivateKey {
	f.t.Helper()
	k, err := keys.Generate(keys.Ed25519)
	f.must(err)
	rec := &record.Record{Type: record.TypeIdentity, PublicKey: k.Public().Base64()}
	sub := &client.Submission{}
	if prof != nil {
		p, salt, commitment, err := client.NewProfile(*prof)
		f.must(err)
		rec.Commitment, sub.Profile, sub.Salt = commitment, p, salt
	}
	rec.Time = now()
	sub.Envelope, err = record.SignRecord(rec, k)
	f.must(err)
	_, err = f.c.Submit(f.ctx, sub, true)
	f.must(err)
	return k
}

// record signs and submits a record on a package's chain or the
// operator's, with the chain's current head as prev.
func (f *reg) record(rec *record.Record, note string, signers ...*keys.PrivateKey) *client.Receipt {
	f.t.Helper()
	if rec.Chain() == record.ChainOperator {
		ops, err := f.c.Operators(f.ctx)
		f.must(err)
		rec.Prev = ops.Head
	} else if rec.Type != record.TypeCreate {
		p, _, err := f.c.Package(f.ctx, rec.Package, client.At{})
		f.must(err)
		rec.Prev = p.Head
	}
	sub := &client.Submission{}
	if note != "" {
		rec.Note = record.Digest([]byte(note))
		sub.Note = &note
	}
	rec.Time = now()
	var err error
	sub.Envelope, err = record.SignRecord(rec, signers...)
	f.must(err)
	rc, err := f.c.Submit(f.ctx, sub, true)
	if err != nil {
		f.t.Fatalf("%s %s@%s: %v", rec.Type, rec.Package, rec.Version, err)
	}
	return rc
}

// publish uploads content and releases it.
func (f *reg) publish(name, version, content, channel string, k *keys.PrivateKey) string {
	f.t.Helper()
	sum := sha256.Sum256([]byte(content))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	f.must(f.c.UploadBlob(f.ctx, digest, strings.NewReader(content), int64(len(content)), nil))
	size := int64(len(content))
	f.record(&record.Record{Type: record.TypeRelease, Package: name, Version: version, Digest: digest, Size: &size,
		MediaType: "application/gzip", Channel: channel}, "", k)
	return digest
}

// attest signs a statement about a release's content.
func (f *reg) attest(name, version, digest, ptype string, pred any, signers ...*keys.PrivateKey) uint64 {
	f.t.Helper()
	stmt := map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": name + "@" + version, "digest": map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")}}},
		"predicateType": ptype,
		"predicate":     pred,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	f.must(enc.Encode(stmt))
	env, err := record.Sign(record.InTotoPayloadType, bytes.TrimSpace(b.Bytes()), signers...)
	f.must(err)
	rc, err := f.c.Submit(f.ctx, &client.Submission{Envelope: env}, true)
	if err != nil {
		f.t.Fatalf("attesting %s: %v", ptype, err)
	}
	return rc.Index
}

// newReg starts a registry holding acme/widget with a release in every
// state (0.5.0 published by mallory, 0.6.0 banished, 0.7.0 tombstoned,
// 0.8.0 deleted, 0.9.0 yanked, 1.0.0 published and latest, 1.1.0-rc.1
// staged), statements by a builder, two QA engineers and a lab about
// 1.0.0, and hostile text in every free-text field a user controls: the
// profile of mallory, who may publish, the note of 0.9.0's yank, and
// mallory's statements about 0.5.0.
func newReg(t testing.TB) *reg {
	env := testreg.Start(t, testreg.Options{})
	f := &reg{t: t, env: env, c: env.Client(), ctx: context.Background()}
	f.alice = f.key(&api.Profile{Name: "Alice Example", Org: "Acme", Email: "alice@example.com"})
	f.bob = f.key(nil)
	f.builder = f.key(&api.Profile{Name: "Acme CI"})
	f.qa1 = f.key(&api.Profile{Name: "Quentin QA"})
	f.qa2 = f.key(&api.Profile{Name: "Quinn QA"})
	f.lab = f.key(&api.Profile{Name: "Lab of Certification", Org: "Certs Inc"})
	f.mallory = f.key(&api.Profile{Name: hostile, Org: hostile, Email: hostile, URL: "javascript:alert(1)"})

	const w = "acme/widget"
	f.record(&record.Record{Type: record.TypeCreate, Package: w, Owners: []string{f.alice.ID(), f.bob.ID()}}, "", f.alice)
	f.record(&record.Record{Type: record.TypeGrant, Package: w, KeyID: f.mallory.ID(), Permissions: []string{record.PermPublish}}, "", f.alice)
	f.publish(w, "0.6.0", "widget 0.6.0", record.ChannelPublished, f.alice)
	f.publish(w, "0.7.0", "widget 0.7.0", record.ChannelPublished, f.alice)
	f.publish(w, "0.8.0", "widget 0.8.0", record.ChannelPublished, f.alice)
	f.publish(w, "0.9.0", "widget 0.9.0", record.ChannelPublished, f.bob)
	digest := f.publish(w, "1.0.0", "widget 1.0.0", record.ChannelPublished, f.alice)
	f.publish(w, "1.1.0-rc.1", "widget 1.1.0-rc.1", record.ChannelStaged, f.bob)
	evil := f.publish(w, "0.5.0", "widget by mallory", record.ChannelPublished, f.mallory)
	f.record(&record.Record{Type: record.TypeYank, Package: w, Version: "0.9.0", Reason: "security"}, "CVE-2026-0001: "+hostile, f.bob)
	f.record(&record.Record{Type: record.TypeDelete, Package: w, Version: "0.8.0", Reason: "mistake"}, "", f.alice)
	f.record(&record.Record{Type: record.TypeTombstone, Package: w, Version: "0.7.0", Reason: "malware"}, "", env.Operator)
	f.record(&record.Record{Type: record.TypeBanish, Package: w, Version: "0.6.0", Reason: "legal"}, "", env.Operator)

	f.attest(w, "1.0.0", digest, "https://slsa.dev/provenance/v1", map[string]any{
		"buildDefinition": map[string]any{"buildType": "https://example.com/make/v1", "externalParameters": map[string]any{}},
		"runDetails":      map[string]any{"builder": map[string]any{"id": "https://ci.example.com/builder"}},
	}, f.builder)
	f.attest(w, "1.0.0", digest, "https://vouch.dev/attestations/approval/v1", map[string]any{"decision": "approved", "scope": "qa"}, f.qa1, f.qa2)
	f.attest(w, "1.0.0", digest, "https://vouch.dev/attestations/certification/v1", map[string]any{"program": "FIPS 140-3", "certificate": "#4711"}, f.lab)
	f.attest(w, "0.5.0", evil, "https://example.com/review/v1", map[string]any{"comment": hostile, hostile: "key"}, f.mallory)
	f.attest(w, "0.5.0", evil, "https://vouch.dev/attestations/approval/v1", map[string]any{"decision": "approved", "scope": hostile}, f.mallory)
	return f
}
