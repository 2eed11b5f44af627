package cli

import (
	"context"
	"time"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// now is the client's claimed time for new records.
func now() string { return time.Now().UTC().Format(time.RFC3339) }

// submitRecord signs rec with signers, submits it, waits for it to be
// integrated and verifies its inclusion.
func submitRecord(ctx context.Context, c *client.Client, rec *record.Record, note *string, signers ...*keys.PrivateKey) (*client.Receipt, error) {
	if rec.Time == "" {
		rec.Time = now()
	}
	env, err := record.SignRecord(rec, signers...)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, &client.Submission{Envelope: env, Note: note}, true)
}

// receiptJSON is the --json form of a receipt.
type receiptJSON struct {
	Index    uint64 `json:"index"`
	Hash     string `json:"hash,omitempty"`
	Time     string `json:"time"`
	TreeSize uint64 `json:"treeSize"`
	Proof    string `json:"proof,omitempty"`
	KeyID    string `json:"keyId,omitempty"`
	Package  string `json:"package,omitempty"`
	Version  string `json:"version,omitempty"`
}

func toReceiptJSON(rc *client.Receipt) receiptJSON {
	r := receiptJSON{Index: rc.Index, Hash: rc.Hash, Time: rc.Time.Format(time.RFC3339Nano), Proof: rc.Proof}
	if rc.Checkpoint != nil {
		r.TreeSize = rc.Checkpoint.Size
	}
	return r
}
