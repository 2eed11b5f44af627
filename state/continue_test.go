package state

import (
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/translog"
)

func TestContinueRecord(t *testing.T) {
	h := newHarness(t)
	op, alice := h.key(keys.Ed25519), h.key(keys.Ed25519)
	h.genesis(op)
	h.register(alice)
	skey, vkey, err := translog.GenerateLogKey("example.test/old")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := translog.NewSigner(skey)
	cp := func(size uint64) string {
		b, err := translog.Sign(s, size, tlog.Hash{1})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	rec := func(size uint64) *record.Record {
		return &record.Record{Type: record.TypeContinue, Prev: h.opHead(), Checkpoint: cp(size), LogKey: vkey}
	}
	// A checkpoint not signed by logKey is malformed before any state.
	_, otherVKey, _ := translog.GenerateLogKey("example.test/old")
	bad := rec(1)
	bad.LogKey = otherVKey
	if _, err := record.SignRecord(bad, op); err != nil {
		t.Fatal(err)
	}
	if err := bad.Validate(); err == nil {
		t.Fatal("a continue record whose checkpoint its logKey does not sign was accepted")
	}
	h.refused(CodeNotAuthorized, rec(2), alice)
	h.refused(CodeConflict, rec(h.index+1), op) // not a prefix of this log yet
	h.must(rec(h.index), op)
	ops, _ := h.m.Operators()
	if len(ops.Continued) != 1 || ops.Continued[0] != "example.test/old" {
		t.Fatalf("continued: %v", ops.Continued)
	}
	h.refused(CodeConflict, rec(1), op) // each log is continued once
}
