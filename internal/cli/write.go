package cli

import (
	"context"
	"fmt"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// writeChained writes a record that extends a chain. build receives the
// chain's current head; if another writer extends the chain first (409
// stale_prev), the head is read again and the record rebuilt, a few times.
func writeChained(ctx context.Context, c *client.Client, chain record.Chain, pkg string, note string,
	build func(prev string) *record.Record, signers ...*keys.PrivateKey) (*client.Receipt, error) {
	var notePtr *string
	if note != "" {
		notePtr = &note
	}
	var err error
	for try := 0; try < 4; try++ {
		var prev string
		switch chain {
		case record.ChainOperator:
			ops, oerr := c.Operators(ctx)
			if oerr != nil {
				return nil, oerr
			}
			prev = ops.Head
		case record.ChainPackage:
			p, _, perr := c.Package(ctx, pkg, client.At{})
			if perr != nil {
				return nil, fmt.Errorf("reading %s: %w", pkg, perr)
			}
			prev = p.Head
		}
		rec := build(prev)
		if note != "" {
			rec.Note = record.Digest([]byte(note))
		}
		var rc *client.Receipt
		rc, err = submitRecord(ctx, c, rec, notePtr, signers...)
		if err == nil || !client.IsCode(err, "stale_prev") {
			return rc, err
		}
	}
	return nil, err
}
