package vindex

// Tiles: how a store that keeps every version of the tree (the
// registry's database) holds a version's nodes. An update rewrites the
// nodes on the path to each key it sets, about a dozen at a million
// entries, and most of them are on that key's path alone: one row per
// node made the index write more rows than all else a batch writes. A
// tile is the nodes
// one version wrote in one band of eight bit lengths under one prefix,
// stored as one row: every inner node of bit length 8s to 8s+7 whose
// label begins with the same s bytes (stratum s), and each leaf alone
// (stratum 32). Within a tile a node's label takes a byte or two, and
// of a child written in the same tile only its label is kept: its
// version is the tile's and its hash is its own node's. A walk that
// reads a tile has the next levels of its way in it.
//
// A tile is a format byte (tileFormat), then its nodes, ordered by bit
// length and then label bytes. A leaf is its hash and its value. An
// inner node is: its bit length past 8s (one byte), its label's byte s
// unless that bit length past 8s is 0, its hash, and then each
// child: a flags byte, and unless the child is in the tile or empty,
// its bit length (uvarint), its label's bytes past the s the tile's key
// gives, its version (uvarint, unless the tile's) and its hash. A child
// in the tile is its bit length past 8s and label byte s, as above.
//
// Rows written before tiles (one node each, under Key) are read as they
// are; a node read from a tile says, for each child, whether that child
// is in a tile, and a root, whose parent is no one, is looked up both
// ways. The empty node's hash is a constant and is never read.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"filippo.io/torchwood/prefix"
)

// tileFormat is the first byte of every tile.
const tileFormat = 1

// Flags of a child in a tile.
const (
	childInTile = 1 << iota // written in this tile: only its label follows
	childEmpty              // the empty node: nothing follows
	childTiled              // stored in a tile (else as a node row, under Key)
	childSame               // written at the tile's version: no version follows
)

// stratum returns the band of bit lengths a node's tile covers: its bit
// length over 8 for an inner node, 32 for a leaf.
func stratum(l prefix.Label) int {
	if l.IsLeaf() {
		return 32
	}
	return int(l.BitLen() / 8)
}

// tileKey returns the key of the tile holding the version of the node at
// l written at tree size version: the version (8 bytes, big-endian, so
// that a version's tiles are written together), the stratum (one byte)
// and the stratum's bytes of the label: 9 to 41 bytes, never the 42 of a
// node row's key.
func tileKey(version uint64, l prefix.Label) []byte {
	s := stratum(l)
	b := make([]byte, 9+s)
	binary.BigEndian.PutUint64(b, version)
	b[8] = byte(s)
	copy(b[9:], l.Bytes()[:s])
	return b
}

// isTileKey reports whether a stored key is a tile's, not a node row's.
func isTileKey(k []byte) bool { return len(k) >= 9 && len(k) <= 41 }

// labelOrder orders labels by bit length, then bytes.
func labelOrder(a, b prefix.Label) int {
	return cmp.Or(cmp.Compare(a.BitLen(), b.BitLen()), bytes.Compare(a.Bytes(), b.Bytes()))
}

// encodeTiles returns the rows of the tiles holding the nodes written as
// the version at tree size version (the empty node is left out: see
// above), in key order. Each inner node must know its children's versions
// and hashes.
func encodeTiles(version uint64, written map[prefix.Label]*stored) []NodeRow {
	// A tile by its stratum and its bytes of the label (in the key's
	// order), its nodes then ordered by label.
	type tileID [33]byte
	tiles := make(map[tileID][]*stored, len(written)/4)
	for l, n := range written {
		if l == prefix.EmptyNodeLabel {
			continue
		}
		var id tileID
		s := stratum(l)
		id[0] = byte(s)
		copy(id[1:], l.Bytes()[:s])
		tiles[id] = append(tiles[id], n)
	}
	ids := make([]tileID, 0, len(tiles))
	for id := range tiles {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b tileID) int { return bytes.Compare(a[:], b[:]) })
	rows := make([]NodeRow, len(ids))
	for i, id := range ids {
		nodes := tiles[id]
		slices.SortFunc(nodes, func(a, b *stored) int { return labelOrder(a.node.Label, b.node.Label) })
		rows[i] = NodeRow{Key: tileKey(version, nodes[0].node.Label), Node: encodeTile(version, nodes)}
	}
	return rows
}

// encodeTile encodes one tile's nodes, all of one stratum and prefix.
func encodeTile(version uint64, nodes []*stored) []byte {
	// An inner node takes about 110 bytes: its hash, a sibling's hash,
	// and labels and versions.
	b := append(make([]byte, 0, 1+110*len(nodes)), tileFormat)
	s := stratum(nodes[0].node.Label)
	if s == 32 {
		n := nodes[0]
		return append(append(b, n.node.Hash[:]...), n.value[:]...)
	}
	for _, n := range nodes {
		b = appendInTile(b, s, n.node.Label)
		b = append(b, n.node.Hash[:]...)
		for _, c := range n.kids() {
			switch {
			case c.l == prefix.EmptyNodeLabel:
				b = append(b, childEmpty)
			case c.c.version == version && stratum(c.l) == s:
				b = appendInTile(append(b, childInTile), s, c.l)
			default:
				var f byte
				if c.c.tiled {
					f |= childTiled
				}
				if c.c.version == version {
					f |= childSame
				}
				b = append(b, f)
				b = binary.AppendUvarint(b, uint64(c.l.BitLen()))
				b = append(b, c.l.Bytes()[s:(c.l.BitLen()+7)/8]...)
				if f&childSame == 0 {
					b = binary.AppendUvarint(b, c.c.version)
				}
				b = append(b, c.c.hash[:]...)
			}
		}
	}
	return b
}

// appendInTile appends the label of a node of stratum s in a tile: its
// bit length past 8s, and its byte s unless that is past its bit length.
func appendInTile(b []byte, s int, l prefix.Label) []byte {
	off := byte(l.BitLen() - uint32(8*s))
	b = append(b, off)
	if off > 0 {
		b = append(b, l.Bytes()[s])
	}
	return b
}

// errTile is how a malformed tile is refused.
var errTile = errors.New("vindex: a stored tile is malformed")

// tileReader reads a tile's bytes.
type tileReader struct {
	b   []byte
	err error
}

func (r *tileReader) next(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errTile
		return make([]byte, max(n, 0))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *tileReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errTile
		return 0
	}
	r.b = r.b[n:]
	return v
}

// inTile reads a label in a tile of stratum s under prefix p.
func (r *tileReader) inTile(s int, p []byte) prefix.Label {
	off := r.next(1)[0]
	if off > 7 {
		r.err = errTile
		return prefix.Label{}
	}
	lb := p
	if off > 0 {
		lb = append(slices.Clip(p), r.next(1)[0])
	}
	return r.label(uint32(8*s)+uint32(off), lb)
}

func (r *tileReader) label(bitLen uint32, b []byte) prefix.Label {
	if r.err != nil {
		return prefix.Label{}
	}
	l, err := prefix.NewLabel(bitLen, b)
	if err != nil || len(b) != int(bitLen+7)/8 {
		r.err = errTile
	}
	return l
}

// tile is a stored tile, parsed only as far as finding its nodes: a walk
// needs a few nodes of each tile it reads, and a tile a large batch wrote
// holds hundreds.
type tile struct {
	version uint64
	s       int
	p       []byte         // the label bytes the key gives
	b       []byte         // the tile, from its format byte
	labels  []prefix.Label // its nodes' labels, in labelOrder
	at      []int          // where each node's hash is in b
}

// parseTile finds the nodes of the tile stored under key k.
func parseTile(k, b []byte) (*tile, error) {
	if !isTileKey(k) || int(k[8]) != len(k)-9 {
		return nil, errors.New("vindex: a stored tile's key is malformed")
	}
	t := &tile{version: binary.BigEndian.Uint64(k), s: int(k[8]), p: k[9:], b: b}
	r := &tileReader{b: b}
	if f := r.next(1)[0]; f != tileFormat {
		return nil, fmt.Errorf("vindex: a stored tile is in format %d, which this version does not read", f)
	}
	if t.s == 32 {
		t.labels, t.at = []prefix.Label{r.label(256, t.p)}, []int{1}
		if r.err != nil || len(b) != 1+64 {
			return nil, errTile
		}
		return t, nil
	}
	for len(r.b) > 0 && r.err == nil {
		l := r.inTile(t.s, t.p)
		if n := len(t.labels); n > 0 && labelOrder(t.labels[n-1], l) >= 0 {
			r.err = errTile
		}
		t.labels = append(t.labels, l)
		t.at = append(t.at, len(b)-len(r.b))
		r.next(32)
		for range 2 {
			switch f := r.next(1)[0]; {
			case f == childEmpty:
			case f == childInTile:
				if off := r.next(1)[0]; off > 0 {
					r.next(1)
				}
			case f&^(childTiled|childSame) == 0:
				bl := r.uvarint()
				r.next(int(min(bl, 256)+7)/8 - t.s)
				if f&childSame == 0 {
					r.uvarint()
				}
				r.next(32)
			default:
				r.err = errTile
			}
		}
	}
	if r.err != nil || len(t.labels) == 0 {
		return nil, errTile
	}
	return t, nil
}

// find returns the index of the node at l in the tile.
func (t *tile) find(l prefix.Label) (int, bool) {
	return slices.BinarySearchFunc(t.labels, l, labelOrder)
}

// node decodes the tile's node i.
func (t *tile) node(i int) (*stored, error) {
	r := &tileReader{b: t.b[t.at[i]:]}
	n := &stored{node: &prefix.Node{Label: t.labels[i], Hash: [32]byte(r.next(32))}, version: t.version, tiled: true}
	if t.s == 32 {
		n.value = [32]byte(r.next(32))
		return n, r.err
	}
	for side, c := range []*child{&n.left, &n.right} {
		var l prefix.Label
		switch f := r.next(1)[0]; {
		case f == childEmpty:
			l = prefix.EmptyNodeLabel
			*c = child{hash: emptyNode.Hash}
		case f == childInTile:
			l = r.inTile(t.s, t.p)
			j, ok := t.find(l)
			if !ok {
				return nil, errTile
			}
			*c = child{version: t.version, hash: [32]byte(t.b[t.at[j]:]), tiled: true}
		default:
			bl := r.uvarint()
			l = r.label(uint32(min(bl, 257)), append(slices.Clip(t.p), r.next(int(min(bl, 256)+7)/8-t.s)...))
			c.version = t.version
			if f&childSame == 0 {
				c.version = r.uvarint()
			}
			c.tiled = f&childTiled != 0
			c.hash = [32]byte(r.next(32))
			if c.version == t.version && stratum(l) == t.s {
				return nil, errTile // it would be in the tile
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		if l != prefix.EmptyNodeLabel && (!l.HasPrefix(n.node.Label) || l.BitLen() <= n.node.Label.BitLen()) {
			return nil, errTile
		}
		if side == 0 {
			n.node.Left = l
		} else {
			n.node.Right = l
		}
	}
	return n, nil
}

// layout says how a node version is stored.
type layout uint8

const (
	perNode layout = iota // a row of its own, under Key
	inTiles               // in a tile, under tileKey
	either                // not known: a root, which may be either
)

// layoutOf returns the layout of a child, as its parent says.
func layoutOf(c child) layout {
	if c.tiled {
		return inTiles
	}
	return perNode
}

// rowPerNode is implemented by the stores an update writes a row per node
// to, not tiles (MemoryNodes: it keeps only the newest version of each
// node, by label).
type rowPerNode interface{ rowPerNode() }

// nodeID names a node version.
type nodeID struct {
	label   prefix.Label
	version uint64
}

// reader reads node versions through a Nodes, one read per call, and
// keeps the tiles it read: a walk's next levels are mostly in the tile it
// read last.
type reader struct {
	r     Nodes
	tiles map[string]*tile
	read  map[nodeID]*stored
}

func newReader(r Nodes) *reader {
	return &reader{r: r, tiles: map[string]*tile{}, read: map[nodeID]*stored{}}
}

// nodes returns the node versions refs name that are stored (absent ones
// are left out), in one read of those not read already.
func (rd *reader) nodes(ctx context.Context, refs []ref) ([]*stored, error) {
	var keys [][]byte
	asked := map[string]bool{}
	ask := func(k []byte) {
		if !asked[string(k)] {
			asked[string(k)] = true
			keys = append(keys, k)
		}
	}
	tks := make([][]byte, len(refs))
	for i, r := range refs {
		if r.label == prefix.EmptyNodeLabel {
			continue
		}
		if _, ok := rd.read[nodeID{r.label, r.version}]; ok {
			continue
		}
		if r.layout != inTiles {
			ask(Key(r.version, r.label))
		}
		if r.layout != perNode {
			tks[i] = tileKey(r.version, r.label)
			if _, ok := rd.tiles[string(tks[i])]; !ok {
				ask(tks[i])
			}
		}
	}
	if len(keys) > 0 {
		got, err := rd.r.Nodes(ctx, keys)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			b, ok := got[string(k)]
			switch {
			case !ok:
			case isTileKey(k):
				t, err := parseTile(k, b)
				if err != nil {
					return nil, err
				}
				rd.tiles[string(k)] = t
			default:
				n, err := decodeRow(k, b)
				if err != nil {
					return nil, err
				}
				rd.read[nodeID{n.node.Label, n.version}] = n
			}
		}
	}
	out := make([]*stored, 0, len(refs))
	for i, r := range refs {
		id := nodeID{r.label, r.version}
		if r.label == prefix.EmptyNodeLabel {
			out = append(out, &stored{node: emptyNode, version: r.version})
			continue
		}
		if n, ok := rd.read[id]; ok {
			out = append(out, n)
			continue
		}
		t := rd.tiles[string(tks[i])]
		if t == nil {
			continue
		}
		j, ok := t.find(r.label)
		if !ok {
			continue
		}
		n, err := t.node(j)
		if err != nil {
			return nil, err
		}
		rd.read[id] = n
		out = append(out, n)
	}
	return out, nil
}
