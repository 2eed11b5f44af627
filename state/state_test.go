package state

import (
	"strings"
	"testing"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

func TestIdentityRules(t *testing.T) {
	for _, typ := range []keys.Type{keys.Ed25519, keys.ECDSAP256} {
		t.Run(string(typ), func(t *testing.T) {
			h := newHarness(t)
			a, b := h.key(typ), h.key(typ)
			h.register(a)
			// Registering again is refused.
			h.refused(CodeIdentityExists, &record.Record{Type: record.TypeIdentity, PublicKey: a.Public().Base64()}, a)
			// An identity record signed by another key is refused.
			h.register(b)
			c := h.key(typ)
			h.refused(CodeNotAuthorized, &record.Record{Type: record.TypeIdentity, PublicKey: c.Public().Base64()}, b)
			// Rotation needs both keys.
			h.refused(CodeNotAuthorized, &record.Record{Type: record.TypeIdentityRotate, KeyID: a.ID(), PublicKey: c.Public().Base64()}, a)
			h.must(&record.Record{Type: record.TypeIdentityRotate, KeyID: a.ID(), PublicKey: c.Public().Base64()}, a, c)
			if h.m.Identities[c.ID()].Principal != a.ID() || h.m.Identities[a.ID()].Status != IdentityRotated {
				t.Fatal("rotation did not carry the principal")
			}
			// The rotated key can no longer sign.
			h.refused(CodeKeyInactive, &record.Record{Type: record.TypeCreate, Package: "p", Owners: []string{c.ID()}}, a)
			// The new key owns what the old principal owned.
			h.must(&record.Record{Type: record.TypeCreate, Package: "p", Owners: []string{c.ID()}}, c)
			// Revocation by the key itself; later signatures are refused.
			h.must(&record.Record{Type: record.TypeIdentityRevoke, KeyID: b.ID()}, b)
			h.refused(CodeKeyInactive, &record.Record{Type: record.TypeCreate, Package: "q", Owners: []string{b.ID()}}, b)
		})
	}
}

func TestCreateRules(t *testing.T) {
	h := newHarness(t)
	alice, bob, mallory := h.key(keys.Ed25519), h.key(keys.ECDSAP256), h.key(keys.Ed25519)
	h.register(alice)
	h.register(bob)
	// Unknown signer.
	h.refused(CodeUnknownKey, &record.Record{Type: record.TypeCreate, Package: "acme/w", Owners: []string{mallory.ID()}}, mallory)
	h.register(mallory)
	// Signer not among the owners.
	h.refused(CodeNotAuthorized, &record.Record{Type: record.TypeCreate, Package: "acme/w", Owners: []string{alice.ID()}}, mallory)
	// Owner that is not registered.
	stranger := h.key(keys.Ed25519)
	h.refused(CodeUnknownIdentity, &record.Record{Type: record.TypeCreate, Package: "acme/w", Owners: []string{alice.ID(), stranger.ID()}}, alice)
	h.must(&record.Record{Type: record.TypeCreate, Package: "acme/w", Owners: []string{alice.ID(), bob.ID()}}, alice)
	// A second create is refused, whoever signs it.
	h.refused(CodePackageExists, &record.Record{Type: record.TypeCreate, Package: "acme/w", Owners: []string{bob.ID()}}, bob)
	// Records about a package that does not exist.
	h.refused(CodeUnknownPackage, &record.Record{Type: record.TypeGrant, Package: "acme/nope", Prev: digest, KeyID: bob.ID(), Permissions: []string{"publish"}}, alice)
	// A prev that is not the head: 409.
	h.refused(CodeStalePrev, &record.Record{Type: record.TypeGrant, Package: "acme/w", Prev: digest, KeyID: mallory.ID(), Permissions: []string{"publish"}}, alice)
	// Co-owner bob can extend the chain.
	h.must(&record.Record{Type: record.TypeGrant, Package: "acme/w", Prev: h.head("acme/w"), KeyID: mallory.ID(), Permissions: []string{"publish"}}, bob)
	// Replaying an accepted record is refused: its prev is no longer the head.
	e := h.entry(&record.Record{Type: record.TypeRevoke, Package: "acme/w", Prev: h.head("acme/w"), KeyID: mallory.ID()}, alice)
	if err := h.tryEntry(e); err != nil {
		t.Fatal(err)
	}
	if rf, ok := AsRefusal(h.tryEntry(e)); !ok || rf.Code != CodeStalePrev {
		t.Fatalf("replay: %v", rf)
	}
}

func TestOperatorChain(t *testing.T) {
	h := newHarness(t)
	op, op2, alice := h.key(keys.Ed25519), h.key(keys.ECDSAP256), h.key(keys.Ed25519)
	h.register(alice)
	h.refused(CodeNoOperator, &record.Record{Type: record.TypeSettings, Prev: digest, DeleteWindow: size(1)}, alice)
	h.genesis(op)
	h.refused(CodeGenesisExists, &record.Record{Type: record.TypeGenesis, PublicKeys: []string{op2.Public().Base64()}}, op2)
	h.register(op2)
	h.refused(CodeNotAuthorized, &record.Record{Type: record.TypeGrantOperator, Prev: h.opHead(), KeyID: alice.ID()}, alice)
	h.refused(CodeStalePrev, &record.Record{Type: record.TypeGrantOperator, Prev: digest, KeyID: op2.ID()}, op)
	h.must(&record.Record{Type: record.TypeGrantOperator, Prev: h.opHead(), KeyID: op2.ID()}, op)
	h.must(&record.Record{Type: record.TypeRevokeOperator, Prev: h.opHead(), KeyID: op.ID()}, op2)
	h.refused(CodeNotAuthorized, &record.Record{Type: record.TypeSettings, Prev: h.opHead(), DeleteWindow: size(60)}, op)
	h.refused(CodeConflict, &record.Record{Type: record.TypeRevokeOperator, Prev: h.opHead(), KeyID: op2.ID()}, op2)
	h.must(&record.Record{Type: record.TypeSettings, Prev: h.opHead(), DeleteWindow: size(60)}, op2)
	if h.m.Ops.DeleteWindow != 60 {
		t.Fatal("settings not applied")
	}
}

// TestConfusableNames: a name that differs from an existing package's only
// in separators is refused, and the refusal names the existing package.
func TestConfusableNames(t *testing.T) {
	h := newHarness(t)
	k := h.key(keys.Ed25519)
	h.register(k)
	h.must(&record.Record{Type: record.TypeCreate, Package: "acme/wid-get", Owners: []string{k.ID()}}, k)
	for _, name := range []string{"acme/widget", "acme/wid_get", "acme/wid.get", "acme/w-i-d-g-e-t"} {
		err := h.try(&record.Record{Type: record.TypeCreate, Package: name, Owners: []string{k.ID()}}, k)
		rf, ok := AsRefusal(err)
		if !ok || rf.Code != CodePackageExists || !strings.Contains(rf.Msg, "acme/wid-get") {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	h.must(&record.Record{Type: record.TypeCreate, Package: "acme/widgets", Owners: []string{k.ID()}}, k)
}
