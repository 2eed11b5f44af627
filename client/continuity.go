package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vouchdev/vouch/logchain"
	"github.com/vouchdev/vouch/translog"
)

// A registry that rotates its log key starts a new log, under a new origin,
// that continues the old one: the same tree, extending the old log's last
// checkpoint (logs.json, from the registry's TUF targets; see package
// logchain). The client carries its trust across: the first checkpoint it
// adopts of the current log must extend the last checkpoint of every log
// before it, back to the last log that started afresh, each proven from the
// tiles; and a checkpoint it held of an old log must be a prefix of that
// log's last one. So a client offline across any number of rotations
// catches up, and an old key that signs past its log's end is caught.

// crossOver checks that cp, the first checkpoint of the current log this
// client adopts, extends the logs the current one continues, and advances
// what the client holds of them to their last checkpoints.
// It returns the last checkpoint of the log the current one continues.
func (c *Client) crossOver(ctx context.Context, cp *translog.Checkpoint) (*translog.Checkpoint, error) {
	links := c.links
	n := len(links)
	if n < 2 || links[n-1].Continues == nil {
		return nil, nil
	}
	start := n - 1
	for start > 0 && links[start].Continues != nil {
		start--
	}
	var prev *translog.Checkpoint
	for i := start; i < n-1; i++ {
		final := links[i+1].Continues
		if prev != nil {
			if err := c.extends(ctx, prev, final); err != nil {
				return nil, err
			}
		}
		held, err := c.trust.Load(links[i].Verifier)
		if err != nil {
			return nil, err
		}
		if held != nil {
			if _, err := c.trust.Advance(ctx, links[i].Verifier, final, c.ConsistencyProof); err != nil {
				return nil, fmt.Errorf("the log %s ended at size %d and continues as %s, but this client holds a checkpoint of it that its last one does not extend: %w",
					final.Origin, final.Size, links[i+1].Verifier.Origin(), err)
			}
		}
		prev = final
	}
	return prev, c.extends(ctx, prev, cp)
}

// extends proves that newer's tree extends older's, across origins.
func (c *Client) extends(ctx context.Context, older, newer *translog.Checkpoint) error {
	if older.Size > newer.Size {
		return fmt.Errorf("the checkpoint of %s of size %d does not extend the last checkpoint of %s (size %d), which it continues", newer.Origin, newer.Size, older.Origin, older.Size)
	}
	p, err := c.ConsistencyProof(ctx, older.Size, newer.Size)
	if err != nil {
		return err
	}
	if err := translog.VerifyConsistency(older, newer, p); err != nil {
		return fmt.Errorf("the log %s does not continue the log %s from its last checkpoint (size %d): %w", newer.Origin, older.Origin, older.Size, err)
	}
	return nil
}

// openOlder verifies a checkpoint of a log the current one continues (a read
// at a tree size from before a key rotation). It returns nil, nil if origin
// is not such a log.
func (c *Client) openOlder(note []byte, origin string) (*translog.Checkpoint, error) {
	i := slices.IndexFunc(c.links, func(l logchain.Link) bool { return l.Verifier.Origin() == origin })
	if i < 0 || i == len(c.links)-1 {
		return nil, nil
	}
	cp, err := c.links[i].Verifier.Open(note)
	if err != nil {
		return nil, fmt.Errorf("the checkpoint of %s (a log this registry used before) is not signed by its key: %w", origin, err)
	}
	return cp, nil
}

// adoptOlder checks a checkpoint of a log the current one continues: it
// must lie within that log (at most its last checkpoint), on an unbroken
// chain to the current log. It returns the held checkpoint of the current
// log and a *RollbackError, so that callers prove it a prefix of the held
// one, as for any older checkpoint.
func (c *Client) adoptOlder(ctx context.Context, cp *translog.Checkpoint) (*translog.Checkpoint, error) {
	i := slices.IndexFunc(c.links, func(l logchain.Link) bool { return l.Verifier.Origin() == cp.Origin })
	for j := i + 1; j < len(c.links); j++ {
		if c.links[j].Continues == nil {
			return nil, fmt.Errorf("the log %s is not continued by the current log %s (the registry started afresh after it): its checkpoints prove nothing about the current log",
				cp.Origin, c.log.Origin())
		}
	}
	if final := c.links[i+1].Continues; cp.Size > final.Size {
		return nil, &ForkError{Held: final.Size, Got: cp.Size, Err: fmt.Errorf("the log %s ended at size %d, continued as %s, yet its key signed a checkpoint of size %d",
			cp.Origin, final.Size, c.links[i+1].Verifier.Origin(), cp.Size)}
	}
	held, err := c.trust.Load(c.log)
	if err != nil {
		return nil, err
	}
	if held == nil {
		if held, _, err = c.Checkpoint(ctx); err != nil {
			return nil, err
		}
	}
	return held, &RollbackError{Held: held.Size, Got: cp.Size}
}

// checkOperators refuses an operator chain naming keys the registry's TUF
// targets (operators.json) do not list.
func (c *Client) checkOperators(keys []string) error {
	if c.operators == nil {
		return nil
	}
	var unknown []string
	for _, k := range keys {
		if !slices.Contains(c.operators, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return errors.New("the log's operator chain names operator keys that the registry's TUF targets (operators.json) do not list: " +
			fmt.Sprint(unknown) + " (an operator the offline keys never approved, or operators.json is behind: see docs/trust.md)")
	}
	return nil
}
