package registry

import (
	"context"
	"time"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/store"
)

// Submit parses and appends a submission body. signerHints name registered
// keys that may have made an attestation's signatures when the signing tool
// labelled them with key IDs of its own.
func (r *Registry) Submit(ctx context.Context, body []byte, signerHints []string) (Receipt, error) {
	start := time.Now()
	rc, err := r.submit(ctx, body, signerHints)
	r.observeSubmit(start, rc, err)
	return rc, err
}

func (r *Registry) submit(ctx context.Context, body []byte, signerHints []string) (Receipt, error) {
	sub, err := api.ParseSubmission(body, r.cfg.MaxAttestationSize)
	if err != nil {
		// Bundles are told apart only when the envelope parser has
		// refused the body, so that envelopes cost nothing more.
		if api.IsBundle(body) {
			return r.appendBundle(ctx, body, signerHints)
		}
		return Receipt{}, err
	}
	if sub.Envelope != nil {
		return r.appendAttestation(ctx, sub.Envelope, sub.Payload, signerHints)
	}
	off := make([]store.OffLog, len(sub.OffLog))
	for i, o := range sub.OffLog {
		off[i] = store.OffLog(o)
	}
	return r.Append(ctx, sub.Entry, off)
}
