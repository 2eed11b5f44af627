package keys

import "testing"

// TestBatch: good Ed25519 signatures verify together; one bad signature
// fails the batch; other key types are not batched.
func TestBatch(t *testing.T) {
	var b Batch
	if !b.Verify() {
		t.Fatal("an empty batch fails")
	}
	var ks []*PrivateKey
	for range 3 {
		k, err := Generate(Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	msgs := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	var sigs [][]byte
	for i, k := range ks {
		s, err := k.Sign(msgs[i])
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, s)
		if !b.Add(k.Public(), msgs[i], s) {
			t.Fatal("an Ed25519 signature was not batched")
		}
	}
	if b.Len() != 3 || !b.Verify() {
		t.Fatal("a batch of good signatures fails")
	}
	var bad Batch
	for i, k := range ks {
		msg := msgs[i]
		if i == 1 {
			msg = []byte("TWO")
		}
		bad.Add(k.Public(), msg, sigs[i])
	}
	if bad.Verify() {
		t.Fatal("a batch with a signature over another message verifies")
	}
	ec, err := Generate(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ec.Sign(msgs[0])
	if b.Add(ec.Public(), msgs[0], s) || b.Add(ks[0].Public(), msgs[0], s[:10]) {
		t.Fatal("a P-256 signature or a short one was batched")
	}
}
