package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// operatorAmong returns the ID of a signer that is an operator key of the
// registry, or "".
func operatorAmong(ctx context.Context, c *client.Client, signers []*keys.PrivateKey) string {
	ops, err := c.Operators(ctx)
	if err != nil {
		return ""
	}
	for _, k := range signers {
		if slices.Contains(ops.Keys, k.ID()) {
			return k.ID()
		}
	}
	return ""
}

// requireOperator refuses, before anything else is checked, to sign an
// operator record with keys none of which is an operator key.
func requireOperator(ctx context.Context, c *client.Client, signers []*keys.PrivateKey) error {
	ops, err := c.Operators(ctx)
	if err != nil {
		return err
	}
	for _, k := range signers {
		if slices.Contains(ops.Keys, k.ID()) {
			return nil
		}
	}
	var ids []string
	for _, k := range signers {
		ids = append(ids, k.ID())
	}
	return fmt.Errorf("not authorized: %s is not an operator key of this registry (its operators are %v); operator actions are signed with an operator key (the registry's first is <data>/operator.key)",
		strings.Join(ids, ", "), ops.Keys)
}

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
