package translog

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/transparency-dev/tessera/api"
	"golang.org/x/mod/sumdb/tlog"
)

// memHashes is an in-memory stored-hash table.
type memHashes map[int64]tlog.Hash

func (m memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		h, ok := m[x]
		if !ok {
			return nil, fmt.Errorf("hash %d missing", x)
		}
		out[i] = h
	}
	return out, nil
}

func leaf(i int) []byte { return []byte(fmt.Sprintf("entry %d", i)) }

// TestIntegrateMatchesTlog integrates leaves in uneven batches and checks
// every root against tlog computing the tree one record at a time.
func TestIntegrateMatchesTlog(t *testing.T) {
	batched, single := memHashes{}, memHashes{}
	size := int64(0)
	for _, n := range []int{1, 2, 5, 255, 1, 256, 300, 7, 1000} {
		var lh []tlog.Hash
		for i := 0; i < n; i++ {
			lh = append(lh, tlog.RecordHash(leaf(int(size)+i)))
		}
		stored, root, err := Integrate(size, lh, batched)
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range stored {
			if h.Index != tlog.StoredHashIndex(0, size)+int64(i) {
				t.Fatalf("stored hashes are not contiguous")
			}
			batched[h.Index] = h.Hash
		}
		for i := 0; i < n; i++ {
			hs, err := tlog.StoredHashes(size+int64(i), leaf(int(size)+i), single)
			if err != nil {
				t.Fatal(err)
			}
			base := tlog.StoredHashIndex(0, size+int64(i))
			for j, h := range hs {
				single[base+int64(j)] = h
			}
		}
		size += int64(n)
		want, err := tlog.TreeHash(size, single)
		if err != nil {
			t.Fatal(err)
		}
		if root != want {
			t.Fatalf("size %d: root %v, want %v", size, root, want)
		}
	}
	// Tiles of the batched tree match the single one.
	for _, tl := range tlog.NewTiles(TileHeight, 0, size) {
		w := tl.W
		if w == TileWidth {
			w = 0
		}
		got, err := TileData(uint64(tl.L), uint64(tl.N), w, uint64(size), batched)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := tlog.ReadTileData(tl, single)
		if !bytes.Equal(got, want) {
			t.Fatalf("tile %+v differs", tl)
		}
	}
	if _, err := TileData(0, 100, 0, uint64(size), batched); err != ErrNoTile {
		t.Fatalf("tile beyond the tree: %v", err)
	}
	if _, err := TileData(0, 0, 300, uint64(size), batched); err != ErrNoTile {
		t.Fatalf("bad width: %v", err)
	}
	if _, _, err := BundleRange(uint64(size)/TileWidth, int(size%TileWidth)+1, uint64(size)); err != ErrNoTile {
		t.Fatalf("partial bundle wider than the tree: %v", err)
	}
}

func TestEncodeBundleReadByTessera(t *testing.T) {
	entries := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("x"), 65535)}
	b, err := EncodeBundle(entries)
	if err != nil {
		t.Fatal(err)
	}
	var eb api.EntryBundle
	if err := eb.UnmarshalText(b); err != nil {
		t.Fatal(err)
	}
	if len(eb.Entries) != 3 || !bytes.Equal(eb.Entries[2], entries[2]) {
		t.Fatal("tessera reads a different bundle")
	}
	if _, err := EncodeBundle([][]byte{make([]byte, 65536)}); err == nil {
		t.Fatal("oversized entry encoded")
	}
}

func TestCheckpointAndProofFormat(t *testing.T) {
	skey, vkey, err := GenerateLogKey("example.com/log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	hs := memHashes{}
	var lh []tlog.Hash
	for i := 0; i < 10; i++ {
		lh = append(lh, tlog.RecordHash(leaf(i)))
	}
	stored, root, _ := Integrate(0, lh, hs)
	for _, h := range stored {
		hs[h.Index] = h.Hash
	}
	note, err := Sign(s, 10, root)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := v.Open(note)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 10 || cp.Hash != root || cp.Origin != "example.com/log" {
		t.Fatalf("checkpoint %+v", cp)
	}
	proof, _ := tlog.ProveRecord(10, 3, hs)
	text := FormatProof(3, proof, note)
	p, err := ParseProof(text)
	if err != nil {
		t.Fatal(err)
	}
	if p.Index != 3 || len(p.Hashes) != len(proof) || !bytes.Equal(p.Checkpoint, note) {
		t.Fatalf("proof round trip: %+v", p)
	}
	if err := VerifyInclusion(cp, 3, leaf(3), p.Hashes); err != nil {
		t.Fatal(err)
	}
	if err := VerifyInclusion(cp, 3, leaf(4), p.Hashes); err == nil {
		t.Fatal("wrong leaf verified")
	}
	// A checkpoint signed by another key, or tampered with, is refused.
	skey2, _, _ := GenerateLogKey("example.com/log")
	s2, _ := NewSigner(skey2)
	note2, _ := Sign(s2, 10, root)
	if _, err := v.Open(note2); err == nil {
		t.Fatal("checkpoint signed by another key accepted")
	}
	if _, err := v.Open(bytes.Replace(note, []byte("\n10\n"), []byte("\n11\n"), 1)); err == nil {
		t.Fatal("tampered checkpoint accepted")
	}
	for _, bad := range []string{"", "nope\n\n", ProofHeader + "\nindex 01\n\n", ProofHeader + "\nindex 1\n!!\n\n"} {
		if _, err := ParseProof([]byte(bad)); err == nil {
			t.Errorf("ParseProof(%q) accepted", bad)
		}
	}
}

// FuzzParseProof checks the tlog-proof parser on arbitrary text.
func FuzzParseProof(f *testing.F) {
	f.Add([]byte(ProofHeader + "\nindex 3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\nexample.com/log\n10\nAAA=\n\n— example.com/log AAAA\n"))
	f.Add([]byte(ProofHeader + "\nextra AAAA\nindex 0\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProof(b)
		if err != nil {
			return
		}
		again := FormatProof(p.Index, p.Hashes, p.Checkpoint)
		if p.Extra == nil {
			if q, err := ParseProof(again); err != nil || q.Index != p.Index || len(q.Hashes) != len(p.Hashes) {
				t.Fatalf("re-formatted proof does not parse back: %v", err)
			}
		}
	})
}
