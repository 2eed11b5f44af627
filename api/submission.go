package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/state"
)

// MaxNoteBytes is the longest note accepted with a record.
const MaxNoteBytes = 4096

// Submission is a parsed POST /api/v1/entries body: a registry record's
// entry with the off-log data that comes with it, or an attestation's
// envelope (whose entry is built once its signers are resolved).
type Submission struct {
	// Entry is a record's entry; nil for an attestation.
	Entry *record.Entry
	// OffLog is the off-log data a record refers to: its note's text, an
	// identity's profile.
	OffLog []OffLogItem
	// Envelope and Payload are an attestation's in-toto envelope and its
	// decoded statement.
	Envelope *dsse.Envelope
	Payload  []byte
}

// OffLogItem is data kept beside the log, addressed by its digest.
type OffLogItem struct {
	Digest string
	// Kind is "note" or "profile".
	Kind string
	Data []byte
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

	// Import is an entry of another registry's log, with its proof, when
	// a package moves here; Statement is an imported attestation's
	// statement.
	Import    *record.ImportRef `json:"import,omitempty"`
	Statement []byte            `json:"statement,omitempty"`
}

// ParseSubmission parses the body of POST /api/v1/entries: either a bare
// DSSE envelope (a record, or an in-toto attestation), or a wrapper
// {"envelope": ..., "note": "...", "profile": {...}, "salt": "..."} that
// carries the off-log data a record refers to.
func ParseSubmission(raw []byte, maxAttestation int64) (*Submission, error) {
	var w body
	if err := record.UnmarshalStrict(raw, &w); err != nil {
		msg := "submission: " + err.Error()
		switch kind := Sniff(raw); kind {
		case KindStatement:
			msg += "; this is " + kind + ": sign it into a DSSE envelope first (vouch attest NAME@VERSION --predicate-type ... --predicate FILE)"
		case KindTrustedRoot:
			msg += "; this is " + kind + ": a registry's operator configures those (vouch serve --sigstore-trusted-root FILE)"
		case KindProvenance:
			msg += "; this is " + kind + ": give it to vouch attest --predicate"
		default:
			msg += " (send a DSSE envelope, a Sigstore bundle, a PEP 740 attestation, or {\"envelope\": ..., \"note\": ..., \"profile\": ..., \"salt\": ...})"
		}
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: msg}
	}
	if w.Import != nil {
		if w.Envelope != nil || w.PayloadType != "" || w.Payload != "" || w.Signatures != nil || w.Note != nil || w.Profile != nil {
			return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "submission: an import carries only the imported entry and its statement"}
		}
		if int64(len(w.Statement)) > maxAttestation {
			return nil, &state.Refusal{Code: state.CodeTooLarge, Msg: fmt.Sprintf("statement is %d bytes; the limit is %d", len(w.Statement), maxAttestation)}
		}
		e, err := record.NewImportEntry(w.Import, w.Statement)
		if err != nil {
			return nil, state.RefusalOf(err)
		}
		return &Submission{Entry: e}, nil
	}
	if w.Statement != nil {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "submission: statement comes only with an import"}
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
		return &Submission{Envelope: env, Payload: payload}, nil
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
		sub.OffLog = append(sub.OffLog, OffLogItem{Digest: e.Record.Note, Kind: "note", Data: []byte(*w.Note)})
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

// profileOffLog checks a profile against the commitment a record makes to
// it and returns the off-log data to store: commitment = sha256(salt ‖
// profile), over the exact bytes of the profile JSON.
func profileOffLog(commitment string, profile json.RawMessage, salt string) (*OffLogItem, error) {
	if len(profile) > 2048 {
		return nil, &state.Refusal{Code: state.CodeTooLarge, Msg: "profile is larger than 2048 bytes"}
	}
	var p Profile
	d := json.NewDecoder(bytes.NewReader(profile))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "profile: " + err.Error() + " (fields: name, email, org, url)"}
	}
	rawSalt, err := base64.StdEncoding.DecodeString(salt)
	if err != nil || len(rawSalt) < 16 {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "salt must be at least 16 random bytes, base64"}
	}
	if got := record.Commitment(rawSalt, profile); got != commitment {
		return nil, &state.Refusal{Code: state.CodeMalformed, Msg: "the profile and salt do not match the record's commitment"}
	}
	data, _ := json.Marshal(StoredProfile{Salt: salt, Profile: p, Raw: profile})
	return &OffLogItem{Digest: commitment, Kind: "profile", Data: data}, nil
}

// StoredProfile is how the registry keeps an identity profile off the log:
// the profile and the salt that makes its commitment unguessable.
type StoredProfile struct {
	Salt    string          `json:"salt"`
	Profile Profile         `json:"profile"`
	Raw     json.RawMessage `json:"raw"`
}

// CheckOffLog checks off-log data against the digest the log names it by:
// a note's text hashes to it; a profile's salt and exact bytes make its
// commitment. A mirror checks what it copies with it.
func CheckOffLog(digest, kind string, data []byte) error {
	switch kind {
	case "note":
		if record.Digest(data) != digest {
			return fmt.Errorf("the note's text does not have the digest %s", digest)
		}
	case "profile":
		var sp StoredProfile
		if err := json.Unmarshal(data, &sp); err != nil {
			return fmt.Errorf("malformed stored profile: %v", err)
		}
		salt, err := base64.StdEncoding.DecodeString(sp.Salt)
		if err != nil || record.Commitment(salt, sp.Raw) != digest {
			return fmt.Errorf("the profile and salt do not make the commitment %s", digest)
		}
	default:
		return fmt.Errorf("unknown kind of off-log data %q", kind)
	}
	return nil
}

// OffLogData answers GET /api/v1/offlog/{digest}: data kept beside the log,
// for mirrors (a profile comes with its salt, so its commitment can be
// checked; the profile itself is public on the identity's page anyway).
type OffLogData struct {
	Digest string `json:"digest"`
	Kind   string `json:"kind"`
	Data   []byte `json:"data"`
}

// Erasures answers GET /api/v1/erasures: what this registry erased, in
// order, never the data itself, for mirrors to erase the same.
type Erasures struct {
	Erasures []Erasure `json:"erasures"`
}

// Erasure is one erasure.
type Erasure struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Statements []uint64  `json:"statements,omitempty"`
	OffLog     []string  `json:"offLog,omitempty"`
}
