package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
	"github.com/vouchdev/vouch/store"
)

// MaxNoteBytes is the longest note accepted with a record.
const MaxNoteBytes = 4096

// Submission is a parsed write: an entry plus the off-log data that comes
// with it.
type Submission struct {
	Entry  *record.Entry
	OffLog []store.OffLog
}

// wrapper is the JSON body that carries an envelope with off-log data.
type wrapper struct {
	Envelope json.RawMessage `json:"envelope"`
	Note     *string         `json:"note,omitempty"`
}

// ParseSubmission parses the body of POST /api/v1/entries: either a bare
// DSSE envelope, or {"envelope": ..., "note": "..."} when the record refers
// to a note kept off the log.
func ParseSubmission(body []byte) (*Submission, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "body is not a JSON object: " + err.Error()}
	}
	envJSON := body
	var w wrapper
	if _, ok := probe["envelope"]; ok {
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		if err := d.Decode(&w); err != nil {
			return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "submission: " + err.Error()}
		}
		envJSON = w.Envelope
	}
	env, payload, err := record.ParseEnvelope(envJSON)
	if err != nil {
		return nil, asRefusal(err)
	}
	if env.PayloadType != record.PayloadType {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "unsupported payloadType " + env.PayloadType}
	}
	e, err := record.NewRecordEntry(env, payload)
	if err != nil {
		return nil, asRefusal(err)
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
	return sub, nil
}

// asRefusal turns record package errors into refusals.
func asRefusal(err error) error {
	var tl *record.TooLargeError
	if errors.As(err, &tl) {
		return &state.Refusal{Code: state.CodeTooLarge, Msg: err.Error()}
	}
	return refusalOf(err)
}

// Submit parses and appends a submission body.
func (r *Registry) Submit(ctx context.Context, body []byte) (Receipt, error) {
	sub, err := ParseSubmission(body)
	if err != nil {
		return Receipt{}, err
	}
	return r.Append(ctx, sub.Entry, sub.OffLog)
}
