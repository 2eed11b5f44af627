package vindex

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"filippo.io/torchwood/prefix"
)

// tiledTree writes versions of a tree in tiles and returns the store and
// the nodes each version wrote.
func tiledTree(t testing.TB, versions, keys int) (*versioned, map[uint64]map[prefix.Label]*stored) {
	ctx := context.Background()
	st := newVersioned()
	rng := rand.New(rand.NewPCG(5, 6))
	written := map[uint64]map[prefix.Label]*stored{}
	for v := uint64(1); v <= uint64(versions); v++ {
		u := NewUpdate(st, nil, v-1, v == 1)
		for range 1 + rng.IntN(keys) {
			u.Set(Label(KindSubject, fmt.Sprint(rng.IntN(4*keys*versions))), ListNext(ListStart, v))
		}
		_, rows, err := u.Apply(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(rows, func(a, b NodeRow) int { return bytes.Compare(a.Key, b.Key) }) {
			t.Fatalf("version %d: the tiles are not in key order", v)
		}
		st.put(rows)
		written[v] = u.dirty
	}
	return st, written
}

// TestTiles checks that every node a version wrote reads back from its
// tile as written (label, hash, value, and each child's label, version
// and hash), that tiles encode again to the same bytes, and that a
// version writes one tile per stratum and prefix its nodes fall in.
func TestTiles(t *testing.T) {
	st, written := tiledTree(t, 40, 60)
	for v, nodes := range written {
		rd := newReader(st)
		tiles := map[string]bool{}
		for l, w := range nodes {
			if l == prefix.EmptyNodeLabel {
				continue
			}
			tiles[string(tileKey(v, l))] = true
			got, err := rd.nodes(context.Background(), []ref{{l, v, inTiles}})
			if err != nil || len(got) != 1 {
				t.Fatalf("version %d, node %s: %v (%d nodes)", v, LabelString(l), err, len(got))
			}
			g := got[0]
			if g.node.Label != l || g.node.Hash != w.node.Hash || g.version != v || !g.tiled || g.value != w.value {
				t.Fatalf("version %d, node %s: read %+v, wrote %+v", v, LabelString(l), g, w)
			}
			if !l.IsLeaf() && (g.node.Left != w.node.Left || g.node.Right != w.node.Right || g.left != w.left || g.right != w.right) {
				t.Fatalf("version %d, node %s: children read %v %+v %v %+v, written %v %+v %v %+v", v, LabelString(l),
					g.node.Left, g.left, g.node.Right, g.right, w.node.Left, w.left, w.node.Right, w.right)
			}
		}
		n := 0
		for k, b := range st.rows {
			if !isTileKey([]byte(k)) || binary.BigEndian.Uint64([]byte(k)) != v {
				continue
			}
			n++
			if !tiles[k] {
				t.Errorf("version %d wrote a tile %x none of its nodes is in", v, k)
			}
			ns, err := decodeTile([]byte(k), b)
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(ns, func(a, b *stored) int { return labelOrder(a.node.Label, b.node.Label) })
			if again := encodeTile(v, ns); !bytes.Equal(again, b) {
				t.Errorf("version %d, tile %x encodes again as %x, not %x", v, k, again, b)
			}
		}
		if n != len(tiles) {
			t.Errorf("version %d wrote %d tiles, want %d", v, n, len(tiles))
		}
	}
}

// TestTileRefusesDamage checks that a tile cut short, with a byte
// changed in its structure, or under a key that does not match it, is
// refused with an error, not read as other nodes.
func TestTileRefusesDamage(t *testing.T) {
	st, _ := tiledTree(t, 3, 200)
	var key, tl []byte
	for k, b := range st.rows {
		if isTileKey([]byte(k)) && k[8] == 1 && len(b) > len(tl) {
			key, tl = []byte(k), b
		}
	}
	if tl == nil {
		t.Fatal("no tile of stratum 1")
	}
	read := func(k, b []byte) error {
		_, err := decodeTile(k, b)
		return err
	}
	if err := read(key, tl); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{0, 1, 2, 34, len(tl) - 1} {
		if read(key, tl[:cut]) == nil {
			t.Errorf("a tile cut to %d of %d bytes reads", cut, len(tl))
		}
	}
	bad := slices.Clone(tl)
	bad[0] = 2
	if err := read(key, bad); err == nil || !bytes.Contains([]byte(err.Error()), []byte("format 2")) {
		t.Errorf("a tile in format 2: %v", err)
	}
	bad = slices.Clone(tl)
	bad[1] = 9 // the first node's bit length past the stratum
	if read(key, bad) == nil {
		t.Error("a node 9 bits into a stratum of 8 reads")
	}
	other := slices.Clone(key)
	other[8] = 2
	if read(other, tl) == nil {
		t.Error("a tile under a key whose stratum does not match its length reads")
	}
}

// FuzzTile feeds parseTile and node arbitrary keys and bytes, seeded with
// real tiles: they must return nodes or an error, never panic, and a tile
// that reads must encode again to bytes that read as the same nodes.
func FuzzTile(f *testing.F) {
	st, _ := tiledTree(f, 4, 30)
	for k, b := range st.rows {
		if isTileKey([]byte(k)) {
			f.Add([]byte(k), b)
		}
	}
	f.Fuzz(func(t *testing.T, k, b []byte) {
		ns, err := decodeTile(k, b)
		if err != nil {
			return
		}
		again, err := decodeTile(k, encodeTile(binary.BigEndian.Uint64(k), ns))
		if err != nil {
			t.Fatalf("a tile that read encodes to one that does not: %v", err)
		}
		if len(again) != len(ns) {
			t.Fatalf("%d nodes read again as %d", len(ns), len(again))
		}
		for i := range ns {
			a, b := ns[i], again[i]
			if a.node.Label != b.node.Label || a.node.Hash != b.node.Hash || a.value != b.value {
				t.Fatalf("node %d changed on encoding again", i)
			}
		}
	})
}

// decodeTile returns every node of the tile stored under key k.
func decodeTile(k, b []byte) ([]*stored, error) {
	t, err := parseTile(k, b)
	if err != nil {
		return nil, err
	}
	out := make([]*stored, len(t.labels))
	for i := range out {
		if out[i], err = t.node(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}
