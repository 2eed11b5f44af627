package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/translog"
)

// Receipt is the registry's acknowledgement of a write, verified: when the
// write waited for integration, the entry has been proven included in a
// verified checkpoint.
type Receipt struct {
	Index    uint64
	LeafHash tlog.Hash
	// Hash is the record hash (the next record's prev), for records.
	Hash string
	Time time.Time
	// Checkpoint is the verified checkpoint the entry was proven in (nil
	// if the write did not wait).
	Checkpoint *translog.Checkpoint
	// Proof is the c2sp.org/tlog-proof@v1 text of the inclusion proof.
	Proof string
}

// Submission is a write: an envelope, with the off-log data its record
// refers to, if any.
type Submission struct {
	Envelope *dsse.Envelope  `json:"envelope"`
	Note     *string         `json:"note,omitempty"`
	Profile  json.RawMessage `json:"profile,omitempty"`
	Salt     string          `json:"salt,omitempty"`
	// Signers name registered keys that made an attestation's signatures,
	// for envelopes whose signing tool labelled them its own way.
	Signers []string `json:"-"`
	// Bundle, instead of Envelope, is a Sigstore bundle or a PEP 740
	// attestation, sent exactly as it is (the log keeps its digest).
	Bundle []byte `json:"-"`
}

// Submit sends an envelope (with its note, if any). With wait, it waits for
// a checkpoint to cover the entry and verifies the entry's inclusion in it,
// and the checkpoint's consistency with the held one.
func (c *Client) Submit(ctx context.Context, s *Submission, wait bool) (*Receipt, error) {
	var body any = s.Envelope
	if s.Note != nil || s.Profile != nil {
		body = s
	}
	b := s.Bundle
	if b == nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	return c.submitBody(ctx, b, s.Signers, wait)
}

// submitBody posts a submission and verifies the receipt (see Submit).
func (c *Client) submitBody(ctx context.Context, body []byte, signers []string, wait bool) (*Receipt, error) {
	q := url.Values{}
	if wait {
		q.Set("wait", "true")
	}
	for _, k := range signers {
		q.Add("signer", k)
	}
	b, _, err := c.do(ctx, http.MethodPost, "/api/v1/entries", q, bytes.NewReader(body), "application/json")
	if err != nil {
		return nil, err
	}
	var aj api.AppendResponse
	if err := json.Unmarshal(b, &aj); err != nil {
		return nil, fmt.Errorf("decoding the registry's receipt: %w", err)
	}
	rc := &Receipt{Index: aj.Index, Hash: aj.Hash, Time: aj.Time}
	lh, err := base64.StdEncoding.DecodeString(aj.LeafHash)
	if err != nil || len(lh) != tlog.HashSize {
		return nil, errors.New("malformed receipt: bad leaf hash")
	}
	copy(rc.LeafHash[:], lh)
	if !wait {
		return rc, nil
	}
	if aj.Checkpoint == nil {
		return nil, errors.New("the registry did not return a checkpoint for a waited write")
	}
	cp, err := c.open([]byte(aj.Checkpoint.Note), c.base)
	if err != nil {
		return nil, err
	}
	proof, err := decodeHashes(aj.InclusionProof)
	if err != nil {
		return nil, err
	}
	if aj.TreeSize != cp.Size || aj.Index >= cp.Size {
		return nil, errors.New("the receipt's proof does not match its checkpoint")
	}
	if err := tlog.CheckRecord(proof, int64(cp.Size), cp.Hash, int64(aj.Index), rc.LeafHash); err != nil {
		return nil, fmt.Errorf("the registry's inclusion proof for entry %d does not verify: %w", aj.Index, err)
	}
	if _, err := c.adopt(ctx, cp); err != nil {
		var rb *RollbackError
		if !errors.As(err, &rb) {
			return nil, err
		}
		// Another operation already moved this client past cp: prove the
		// entry in the checkpoint held instead.
		held, herr := c.Held()
		if herr != nil {
			return nil, herr
		}
		if err := c.proveLeaf(ctx, aj.Index, rc.LeafHash, nil, held); err != nil {
			return nil, err
		}
		cp = held
	}
	rc.Checkpoint = cp
	rc.Proof = aj.Proof
	return rc, nil
}
