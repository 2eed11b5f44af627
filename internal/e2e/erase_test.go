package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

// grepDir reports which of needles occur in any file under dir.
func grepDir(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found = append(found, n+" in "+filepath.Base(p))
			}
		}
		return nil
	})
	return found
}

// TestErasureLeavesNoTrace erases an identity's profile, notes and
// statements, and one attestation's statement, then checks the hard way: no
// byte of them is left in the SQLite files (database, WAL, shared memory) or
// the blob directory, every checkpoint and proof still verifies, and reads
// show the items as erased.
func TestErasureLeavesNoTrace(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	ctx := context.Background()
	c := env.Client()
	secrets := []string{"Zebulon Quux-7731", "zebulon.quux7731@example.org", "note-secret-8842", "predicate-secret-5519", "statement-secret-2210"}

	zeb := newKey(t, keys.Ed25519)
	prof, salt, commitment, err := client.NewProfile(api.Profile{Name: secrets[0], Email: secrets[1], Org: "Quux Labs"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &record.Record{Type: record.TypeIdentity, PublicKey: zeb.Public().Base64(), Commitment: commitment}
	sub := sign(t, rec, zeb)
	sub.Profile, sub.Salt = prof, salt
	if _, err := c.Submit(ctx, sub, true); err != nil {
		t.Fatal(err)
	}
	// A profile that does not match the commitment is refused.
	other := newKey(t, keys.Ed25519)
	bad := sign(t, &record.Record{Type: record.TypeIdentity, PublicKey: other.Public().Base64(), Commitment: commitment}, other)
	bad.Profile, bad.Salt = []byte(`{"name":"Someone Else"}`), salt
	if _, err := c.Submit(ctx, bad, true); !client.IsCode(err, "malformed") {
		t.Fatalf("mismatched profile: %v", err)
	}

	l := &lc{t: t, env: env, c: c, pkg: "zeb/tool", owner: zeb}
	env.Must(&record.Record{Type: record.TypeCreate, Package: l.pkg, Owners: []string{zeb.ID()}}, zeb)
	content := []byte("zeb's tool")
	d := l.upload(content)
	l.release("1.0.0", content, "published", zeb)
	if _, err := c.Submit(ctx, signedWithNote(t, l, &record.Record{Type: record.TypeYank, Version: "1.0.0", Reason: "mistake"}, secrets[2], zeb), true); err != nil {
		t.Fatal(err)
	}
	ownAtt, err := attest(t, c, statement(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa", "comment": secrets[3]}, d), nil, zeb)
	if err != nil {
		t.Fatal(err)
	}
	lab := env.Key(keys.ECDSAP256)
	labAtt, err := attest(t, c, statement(predicate.Certification, map[string]any{"program": "FIPS 140-3", "certificate": "#1", "contact": secrets[4]}, d), nil, lab)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := func() []string {
		if env.Backend == "sqlite" {
			return grepDir(t, env.Dir, secrets...)
		}
		return grepPostgres(t, env, secrets...)
	}
	if found := onDisk(); len(found) < len(secrets) {
		t.Fatalf("before erasure, only %v were found: the test would prove nothing", found)
	}
	before, _, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := env.Store.Leaves(ctx, 0, before.Size)
	if err != nil {
		t.Fatal(err)
	}

	// Only an operator may erase.
	if _, err := c.Admin(ctx, &api.AdminRequest{Action: "erase", Identity: zeb.ID()}, zeb); !client.IsCode(err, "not_authorized") {
		t.Fatalf("erasure by a non-operator: %v", err)
	}
	rep, err := c.Admin(ctx, &api.AdminRequest{Action: "erase", Identity: zeb.ID()}, env.Operator)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Profiles != 1 || rep.Notes != 1 || rep.Statements != 1 {
		t.Fatalf("erase identity: %+v", rep)
	}
	idx := labAtt.Index
	if _, err := c.Admin(ctx, &api.AdminRequest{Action: "erase", Attestation: &idx}, env.Operator); err != nil {
		t.Fatal(err)
	}
	if found := onDisk(); len(found) > 0 {
		t.Fatalf("erased data is still stored: %v", found)
	}

	// The log is untouched: same leaves, every checkpoint and proof verifies.
	after, err := env.Store.Leaves(ctx, 0, before.Size)
	if err != nil {
		t.Fatal(err)
	}
	for i := range leaves {
		if !bytes.Equal(leaves[i], after[i]) {
			t.Fatalf("entry %d changed", i)
		}
	}
	cp, _, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < cp.Size; i++ {
		if _, err := c.EntryIn(ctx, i, cp); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	rows, _ := env.Store.Checkpoints(ctx, 0, 1<<20)
	var prev *translog.Checkpoint
	for _, row := range rows {
		cur, err := env.Verifier.Open(row.Note)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil && prev.Size > 0 {
			p, err := c.ConsistencyProof(ctx, prev.Size, cur.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := translog.VerifyConsistency(prev, cur, p); err != nil {
				t.Fatal(err)
			}
		}
		prev = cur
	}

	// Reads show the items as erased, not as missing.
	id, err := c.Identity(ctx, zeb.ID(), client.At{})
	if err != nil || !id.Erased || id.Profile != nil || id.Commitment != commitment {
		t.Fatalf("identity after erasure: %+v %v", id, err)
	}
	rr, _, err := c.Release(ctx, l.pkg, "1.0.0", client.At{Include: "yanked"})
	if err != nil || !rr.NoteErased || rr.Note != "" || rr.NoteDigest == "" {
		t.Fatalf("release after erasure: %+v %v", rr, err)
	}
	for _, i := range []uint64{ownAtt.Index, labAtt.Index} {
		a, err := c.Attestation(ctx, i, cp, c.NewIdentityCache())
		if err != nil || !a.Erased || a.Statement != nil || a.PredicateType == "" {
			t.Fatalf("attestation %d after erasure: %+v %v", i, a, err)
		}
	}
	qr, _, err := c.Query(ctx, &client.QueryParams{Subject: d, Kind: "attestation", At: client.At{Include: "yanked"}})
	if err != nil || len(qr.Items) != 2 || !qr.Items[0].Erased || !qr.Items[1].Erased {
		t.Fatalf("query after erasure: %+v %v", qr, err)
	}
}

// grepPostgres reports which needles occur anywhere in the test database,
// in any column of any row.
func grepPostgres(t *testing.T, env *testreg.Env, needles ...string) []string {
	t.Helper()
	db, err := sql.Open("pgx", env.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var found []string
	for _, table := range []string{"entries", "entry_signers", "entry_subjects", "hashes", "checkpoints", "state", "offlog", "statements", "keyless"} {
		rows, err := db.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				var b []byte
				switch v := v.(type) {
				case []byte:
					b = v
				case string:
					b = []byte(v)
				}
				for _, n := range needles {
					if bytes.Contains(b, []byte(n)) {
						found = append(found, n+" in "+table)
					}
				}
			}
		}
		rows.Close()
	}
	return found
}
