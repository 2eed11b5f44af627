package registry

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
)

// MaxNoteBytes is the longest note accepted with a record.
const MaxNoteBytes = 4096

// Submission is a parsed write: an entry plus the off-log data that comes
// with it. An attestation's entry is built once its signers are resolved.
type Submission struct {
	Entry  *record.Entry
	OffLog []store.OffLog
	// An attestation envelope and its payload, before signer resolution.
	attEnv     *dsse.Envelope
	attPayload []byte
}

// body is either shape of a submission's JSON: a wrapper that carries an
// envelope with off-log data, or a bare DSSE envelope. Decoding both at
// once reads a large body once.
type body struct {
	Envelope json.RawMessage `json:"envelope"`
	Note     *string         `json:"note,omitempty"`
	Profile  json.RawMessage `json:"profile,omitempty"`
	Salt     string          `json:"salt,omitempty"`

	PayloadType string           `json:"payloadType"`
	Payload     string           `json:"payload"`
	Signatures  []dsse.Signature `json:"signatures"`
}

// ParseSubmission parses the body of POST /api/v1/entries: either a bare
// DSSE envelope (a record, or an in-toto attestation), or a wrapper
// {"envelope": ..., "note": "...", "profile": {...}, "salt": "..."} that
// carries the off-log data a record refers to.
func ParseSubmission(raw []byte, maxAttestation int64) (*Submission, error) {
	var w body
	if err := record.UnmarshalStrict(raw, &w); err != nil {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "submission: " + err.Error() +
			" (send a DSSE envelope, or {\"envelope\": ..., \"note\": ..., \"profile\": ..., \"salt\": ...})"}
	}
	var env *dsse.Envelope
	var payload []byte
	var err error
	if w.Envelope != nil {
		if w.PayloadType != "" || w.Payload != "" || w.Signatures != nil {
			return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "submission: give either an envelope or the envelope's fields, not both"}
		}
		env, payload, err = record.ParseEnvelope(w.Envelope)
	} else {
		if w.Note != nil || w.Profile != nil || w.Salt != "" {
			return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "submission: off-log data (note, profile, salt) comes with an envelope field"}
		}
		env, payload, err = record.CanonicalEnvelope(&dsse.Envelope{PayloadType: w.PayloadType, Payload: w.Payload, Signatures: w.Signatures})
	}
	w.Payload = ""
	if err != nil {
		return nil, state.RefusalOf(err)
	}
	if env.PayloadType == record.InTotoPayloadType {
		if w.Note != nil || w.Profile != nil {
			return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "an attestation carries no note or profile"}
		}
		if int64(len(payload)) > maxAttestation {
			return nil, &state.Refusal{Code: state.CodeTooLarge, Msg: fmt.Sprintf("statement is %d bytes; the limit is %d", len(payload), maxAttestation)}
		}
		return &Submission{attEnv: env, attPayload: payload}, nil
	}
	if env.PayloadType != record.PayloadType {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: fmt.Sprintf("unsupported payloadType %q (want %s or %s)", env.PayloadType, record.PayloadType, record.InTotoPayloadType)}
	}
	e, err := record.NewRecordEntry(env, payload)
	if err != nil {
		return nil, state.RefusalOf(err)
	}
	sub := &Submission{Entry: e}
	switch {
	case e.Record.Note != "" && w.Note == nil:
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "the record refers to a note; send its text in the submission's note field"}
	case e.Record.Note == "" && w.Note != nil:
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "a note was sent but the record does not refer to it"}
	case w.Note != nil:
		if len(*w.Note) > MaxNoteBytes {
			return nil, &state.Refusal{Code: state.CodeTooLarge, Msg: "note is longer than 4096 bytes"}
		}
		if d := record.Digest([]byte(*w.Note)); d != e.Record.Note {
			return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "note text has digest " + d + ", but the record names " + e.Record.Note}
		}
		sub.OffLog = append(sub.OffLog, store.OffLog{Digest: e.Record.Note, Kind: "note", Data: []byte(*w.Note)})
	}
	switch {
	case e.Record.Commitment != "" && w.Profile == nil:
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "the record commits to a profile; send it (profile and salt) in the submission"}
	case e.Record.Commitment == "" && w.Profile != nil:
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "a profile was sent but the record does not commit to it"}
	case w.Profile != nil:
		off, err := profileOffLog(e.Record.Commitment, w.Profile, w.Salt)
		if err != nil {
			return nil, err
		}
		sub.OffLog = append(sub.OffLog, *off)
	}
	return sub, nil
}

// Submit parses and appends a submission body. signerHints name registered
// keys that may have made an attestation's signatures when the signing tool
// labelled them with key IDs of its own.
func (r *Registry) Submit(ctx context.Context, body []byte, signerHints []string) (Receipt, error) {
	sub, err := ParseSubmission(body, r.cfg.MaxAttestationSize)
	if err != nil {
		return Receipt{}, err
	}
	if sub.attEnv != nil {
		return r.appendAttestation(ctx, sub.attEnv, sub.attPayload, signerHints)
	}
	return r.Append(ctx, sub.Entry, sub.OffLog)
}
