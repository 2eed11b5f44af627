package translog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the tile height of C2SP tlog-tiles.
const TileHeight = 8

// TileWidth is the number of hashes (or entries) in a full tile.
const TileWidth = 1 << TileHeight

// StoredHash is a tree hash at its tlog stored-hash index.
type StoredHash struct {
	Index int64
	Hash  tlog.Hash
}

// overlay is a HashReader that sees hashes computed during the current
// integration before they are stored.
type overlay struct {
	base  tlog.HashReader
	start int64
	fresh []tlog.Hash
}

func (o *overlay) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	var missing []int64
	var where []int
	for i, x := range idx {
		if x >= o.start && x < o.start+int64(len(o.fresh)) {
			out[i] = o.fresh[x-o.start]
			continue
		}
		missing = append(missing, x)
		where = append(where, i)
	}
	if len(missing) > 0 {
		got, err := o.base.ReadHashes(missing)
		if err != nil {
			return nil, err
		}
		if len(got) != len(missing) {
			return nil, errors.New("hash reader returned the wrong number of hashes")
		}
		for j, i := range where {
			out[i] = got[j]
		}
	}
	return out, nil
}

// WithHashes returns a HashReader that sees fresh (contiguous stored
// hashes, as Integrate returns them) on top of base, for proofs about a tree
// whose new hashes are not stored yet.
func WithHashes(base tlog.HashReader, fresh []StoredHash) tlog.HashReader {
	if len(fresh) == 0 {
		return base
	}
	o := &overlay{base: base, start: fresh[0].Index, fresh: make([]tlog.Hash, len(fresh))}
	for i, h := range fresh {
		o.fresh[i] = h.Hash
	}
	return o
}

// Integrate appends the leaves with the given record hashes to a tree of
// size oldSize whose stored hashes r can read. It returns the hashes to store
// (contiguous, starting at stored-hash index tlog.StoredHashIndex(0, oldSize))
// and the new root hash.
func Integrate(oldSize int64, leafHashes []tlog.Hash, r tlog.HashReader) ([]StoredHash, tlog.Hash, error) {
	o := &overlay{base: r, start: tlog.StoredHashIndex(0, oldSize)}
	for i, h := range leafHashes {
		hs, err := tlog.StoredHashesForRecordHash(oldSize+int64(i), h, o)
		if err != nil {
			return nil, tlog.Hash{}, err
		}
		o.fresh = append(o.fresh, hs...)
	}
	newSize := oldSize + int64(len(leafHashes))
	root, err := tlog.TreeHash(newSize, o)
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	out := make([]StoredHash, len(o.fresh))
	for i, h := range o.fresh {
		out[i] = StoredHash{Index: o.start + int64(i), Hash: h}
	}
	return out, root, nil
}

// TileData returns the tile at level, index and width (0 for a full tile)
// for a tree of size treeSize, or an error if the tree does not contain it.
func TileData(level, index uint64, width int, treeSize uint64, r tlog.HashReader) ([]byte, error) {
	if err := tileExists(level, index, width, treeSize); err != nil {
		return nil, err
	}
	w := width
	if w == 0 {
		w = TileWidth
	}
	return tlog.ReadTileData(tlog.Tile{H: TileHeight, L: int(level), N: int64(index), W: w}, r)
}

// ErrNoTile is returned for a tile or bundle the tree does not (yet) hold.
var ErrNoTile = errors.New("no such tile in the current tree")

// tileExists checks that the tree of size treeSize holds the given tile.
func tileExists(level, index uint64, width int, treeSize uint64) error {
	if level > 63 || width < 0 || width >= TileWidth {
		return ErrNoTile
	}
	if level*TileHeight >= 64 {
		return ErrNoTile
	}
	nodes := treeSize >> (level * TileHeight) // complete nodes at the tile's level
	w := uint64(width)
	if w == 0 {
		w = TileWidth
	}
	if index > (1<<63)/TileWidth || index*TileWidth+w > nodes {
		return ErrNoTile
	}
	return nil
}

// BundleRange returns the first entry index and the number of entries of an
// entry bundle, or ErrNoTile if the tree of size treeSize does not hold it.
func BundleRange(index uint64, width int, treeSize uint64) (first, n uint64, err error) {
	if err := tileExists(0, index, width, treeSize); err != nil {
		return 0, 0, err
	}
	n = TileWidth
	if width != 0 {
		n = uint64(width)
	}
	return index * TileWidth, n, nil
}

// EncodeBundle encodes entries as a tlog-tiles entry bundle: each entry
// prefixed by its length as a big-endian uint16.
func EncodeBundle(entries [][]byte) ([]byte, error) {
	n := 0
	for _, e := range entries {
		n += 2 + len(e)
	}
	out := make([]byte, 0, n)
	for _, e := range entries {
		if len(e) > 1<<16-1 {
			return nil, fmt.Errorf("entry of %d bytes does not fit a bundle", len(e))
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
		out = append(out, e...)
	}
	return out, nil
}
