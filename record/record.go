// Package record defines Vouch's registry records and log entries: the JSON
// payloads signed in DSSE envelopes, their syntax rules, the leaf format stored
// in the log, and the checking of envelope signatures.
//
// The exact format is documented in docs/records.md.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/transparency-dev/formats/note"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/translog"
)

// PayloadType is the DSSE payload type of registry records.
const PayloadType = "application/vnd.vouch.record+json"

// Record types.
const (
	TypeIdentity       = "identity"
	TypeIdentityRotate = "identity-rotate"
	TypeIdentityRevoke = "identity-revoke"

	TypeGenesis        = "genesis"
	TypeSettings       = "settings"
	TypeGrantOperator  = "grant-operator"
	TypeRevokeOperator = "revoke-operator"
	TypeTombstone      = "tombstone"
	TypeLift           = "lift"
	TypeBanish         = "banish"
	TypeTransfer       = "transfer"

	TypeCreate  = "create"
	TypeGrant   = "grant"
	TypeRevoke  = "revoke"
	TypeRelease = "release"
	TypePromote = "promote"
	TypeYank    = "yank"
	TypeUnyank  = "unyank"
	TypeDelete  = "delete"
	// TypeMove hands a package to another registry (see docs/federation.md).
	TypeMove = "move"
)

// ActorOperator marks a promote, yank, unyank or delete record made by the
// registry operator; such records sit on the operator chain.
const ActorOperator = "operator"

// Release channels.
const (
	ChannelStaged    = "staged"
	ChannelPublished = "published"
)

// Permissions a package owner can grant.
const (
	PermPublish = "publish"
	PermYank    = "yank"
	PermDelete  = "delete"
	PermGrant   = "grant"
)

// AllPermissions lists every grantable permission.
var AllPermissions = []string{PermPublish, PermYank, PermDelete, PermGrant}

// Limits on record contents.
const (
	MaxOwners      = 32
	MaxPublicKeys  = 8
	MaxSize        = 1 << 50 // a release's declared content size
	MaxRecordBytes = 32 << 10
)

// Record is the payload of a registry record. Which fields a record may and
// must carry depends on its Type; Parse enforces it.
type Record struct {
	Type         string   `json:"type"`
	Actor        string   `json:"actor,omitempty"`
	Package      string   `json:"package,omitempty"`
	Version      string   `json:"version,omitempty"`
	Prev         string   `json:"prev,omitempty"`
	PublicKey    string   `json:"publicKey,omitempty"`
	PublicKeys   []string `json:"publicKeys,omitempty"`
	KeyID        string   `json:"keyId,omitempty"`
	Commitment   string   `json:"commitment,omitempty"`
	Owners       []string `json:"owners,omitempty"`
	Permissions  []string `json:"permissions,omitempty"`
	Digest       string   `json:"digest,omitempty"`
	Size         *int64   `json:"size,omitempty"`
	MediaType    string   `json:"mediaType,omitempty"`
	Channel      string   `json:"channel,omitempty"`
	URL          string   `json:"url,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	Note         string   `json:"note,omitempty"`
	DeleteWindow *int64   `json:"deleteWindow,omitempty"`
	// To, ToKey and ToURL name the registry a move hands the package to:
	// its log's origin, its log verifier key and its URL.
	To         string `json:"to,omitempty"`
	ToKey      string `json:"toKey,omitempty"`
	ToURL      string `json:"toUrl,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
	LogKey     string `json:"logKey,omitempty"`
	Time       string `json:"time"`
}

// Chain says which hash chain a record extends.
type Chain int

// The chains.
const (
	// ChainNone: identity records stand alone.
	ChainNone Chain = iota
	// ChainPackage: records about a package by its owners.
	ChainPackage
	// ChainOperator: records by the registry operator.
	ChainOperator
)

type fieldRule struct {
	chain    Chain
	required []string
	optional []string
}

// rules lists, for every record type, which fields it requires and allows.
// "type" and "time" are always required.
var rules = map[string]fieldRule{
	TypeIdentity:       {ChainNone, []string{"publicKey"}, []string{"commitment"}},
	TypeIdentityRotate: {ChainNone, []string{"keyId", "publicKey"}, []string{"commitment"}},
	TypeIdentityRevoke: {ChainNone, []string{"keyId"}, []string{"reason"}},

	TypeGenesis:        {ChainOperator, []string{"publicKeys"}, []string{"deleteWindow"}},
	TypeSettings:       {ChainOperator, []string{"prev", "deleteWindow"}, nil},
	TypeGrantOperator:  {ChainOperator, []string{"prev", "keyId"}, nil},
	TypeRevokeOperator: {ChainOperator, []string{"prev", "keyId"}, nil},
	TypeTombstone:      {ChainOperator, []string{"prev", "package", "reason"}, []string{"version", "note"}},
	TypeLift:           {ChainOperator, []string{"prev", "package"}, []string{"version", "reason", "note"}},
	TypeBanish:         {ChainOperator, []string{"prev", "package", "reason"}, []string{"version", "note"}},
	TypeTransfer:       {ChainOperator, []string{"prev", "package", "owners"}, []string{"reason", "note"}},

	TypeCreate:  {ChainPackage, []string{"package", "owners"}, nil},
	TypeGrant:   {ChainPackage, []string{"package", "prev", "keyId", "permissions"}, nil},
	TypeRevoke:  {ChainPackage, []string{"package", "prev", "keyId"}, nil},
	TypeRelease: {ChainPackage, []string{"package", "prev", "version", "digest", "size", "mediaType", "channel"}, []string{"url"}},
	TypePromote: {ChainPackage, []string{"package", "prev", "version"}, []string{"actor"}},
	TypeYank:    {ChainPackage, []string{"package", "prev", "version", "reason"}, []string{"actor", "note"}},
	TypeUnyank:  {ChainPackage, []string{"package", "prev", "version"}, []string{"actor", "reason", "note"}},
	TypeDelete:  {ChainPackage, []string{"package", "prev", "version", "reason"}, []string{"actor", "note"}},
	TypeMove:    {ChainPackage, []string{"package", "prev", "to", "toKey", "toUrl"}, nil},
}

// Types returns every record type, sorted.
func Types() []string {
	var t []string
	for k := range rules {
		t = append(t, k)
	}
	slices.Sort(t)
	return t
}

// present lists the optional fields that are set.
func (r *Record) present() []string {
	var p []string
	add := func(name string, set bool) {
		if set {
			p = append(p, name)
		}
	}
	add("actor", r.Actor != "")
	add("package", r.Package != "")
	add("version", r.Version != "")
	add("prev", r.Prev != "")
	add("publicKey", r.PublicKey != "")
	add("publicKeys", r.PublicKeys != nil)
	add("keyId", r.KeyID != "")
	add("commitment", r.Commitment != "")
	add("owners", r.Owners != nil)
	add("permissions", r.Permissions != nil)
	add("digest", r.Digest != "")
	add("size", r.Size != nil)
	add("mediaType", r.MediaType != "")
	add("channel", r.Channel != "")
	add("url", r.URL != "")
	add("reason", r.Reason != "")
	add("note", r.Note != "")
	add("deleteWindow", r.DeleteWindow != nil)
	add("to", r.To != "")
	add("toKey", r.ToKey != "")
	add("toUrl", r.ToURL != "")
	add("checkpoint", r.Checkpoint != "")
	add("logKey", r.LogKey != "")
	return p
}

// Chain returns the chain the record extends.
func (r *Record) Chain() Chain {
	if r.Actor == ActorOperator {
		return ChainOperator
	}
	return rules[r.Type].chain
}

// SyntaxError is a record that is malformed on its own, before any state is
// consulted.
type SyntaxError struct{ Msg string }

func (e *SyntaxError) Error() string { return e.Msg }

func syntaxf(format string, args ...any) error {
	return &SyntaxError{Msg: fmt.Sprintf(format, args...)}
}

// Parse decodes and checks a record payload: strict JSON (no unknown fields,
// no duplicate keys), a known type with exactly the fields it allows, and
// every field well-formed.
func Parse(payload []byte) (*Record, error) {
	if len(payload) > MaxRecordBytes {
		return nil, &TooLargeError{Size: len(payload), Limit: MaxRecordBytes, What: "record payload"}
	}
	var r Record
	if err := unmarshalStrict(payload, &r); err != nil {
		return nil, syntaxf("record payload: %v", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks that the record's fields fit its type.
func (r *Record) Validate() error {
	rule, ok := rules[r.Type]
	if !ok {
		return syntaxf("unknown record type %q", r.Type)
	}
	if r.Time == "" {
		return syntaxf("%s record: time is required", r.Type)
	}
	if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
		return syntaxf("%s record: time %q is not RFC 3339", r.Type, r.Time)
	}
	have := r.present()
	for _, f := range rule.required {
		if !slices.Contains(have, f) {
			return syntaxf("%s record: %s is required", r.Type, f)
		}
	}
	for _, f := range have {
		if !slices.Contains(rule.required, f) && !slices.Contains(rule.optional, f) {
			return syntaxf("%s record: field %s is not allowed", r.Type, f)
		}
	}
	if r.Actor != "" && r.Actor != ActorOperator {
		return syntaxf("%s record: actor must be %q or absent", r.Type, ActorOperator)
	}
	if r.Package != "" {
		if err := ValidateName(r.Package); err != nil {
			return syntaxf("%s record: %v", r.Type, err)
		}
	}
	if r.Version != "" {
		if err := ValidateVersion(r.Version); err != nil {
			return syntaxf("%s record: %v", r.Type, err)
		}
	}
	if r.Prev != "" {
		if err := ValidateDigest(r.Prev); err != nil {
			return syntaxf("%s record: prev: %v", r.Type, err)
		}
	}
	if r.PublicKey != "" {
		if _, err := keys.ParsePublicBase64(r.PublicKey); err != nil {
			return syntaxf("%s record: publicKey: %v", r.Type, err)
		}
	}
	if r.PublicKeys != nil {
		if len(r.PublicKeys) == 0 || len(r.PublicKeys) > MaxPublicKeys {
			return syntaxf("%s record: publicKeys must list 1 to %d keys", r.Type, MaxPublicKeys)
		}
		seen := map[string]bool{}
		for _, k := range r.PublicKeys {
			p, err := keys.ParsePublicBase64(k)
			if err != nil {
				return syntaxf("%s record: publicKeys: %v", r.Type, err)
			}
			if seen[p.ID()] {
				return syntaxf("%s record: publicKeys lists %s twice", r.Type, p.ID())
			}
			seen[p.ID()] = true
		}
	}
	if r.KeyID != "" && !keys.ValidID(r.KeyID) {
		return syntaxf("%s record: keyId %q is not sha256:<64 hex digits>", r.Type, r.KeyID)
	}
	if r.Commitment != "" {
		if err := ValidateDigest(r.Commitment); err != nil {
			return syntaxf("%s record: commitment: %v", r.Type, err)
		}
	}
	if r.Owners != nil {
		if len(r.Owners) == 0 || len(r.Owners) > MaxOwners {
			return syntaxf("%s record: owners must list 1 to %d key IDs", r.Type, MaxOwners)
		}
		seen := map[string]bool{}
		for _, o := range r.Owners {
			if !keys.ValidID(o) {
				return syntaxf("%s record: owner %q is not a key ID", r.Type, o)
			}
			if seen[o] {
				return syntaxf("%s record: owner %s is listed twice", r.Type, o)
			}
			seen[o] = true
		}
	}
	if r.Permissions != nil {
		if len(r.Permissions) == 0 {
			return syntaxf("%s record: permissions must not be empty", r.Type)
		}
		seen := map[string]bool{}
		for _, p := range r.Permissions {
			if !slices.Contains(AllPermissions, p) {
				return syntaxf("%s record: unknown permission %q (want one of %v)", r.Type, p, AllPermissions)
			}
			if seen[p] {
				return syntaxf("%s record: permission %q is listed twice", r.Type, p)
			}
			seen[p] = true
		}
	}
	if r.Digest != "" {
		if err := ValidateDigest(r.Digest); err != nil {
			return syntaxf("%s record: %v", r.Type, err)
		}
	}
	if r.Size != nil && (*r.Size < 0 || *r.Size > MaxSize) {
		return syntaxf("%s record: size %d is out of range", r.Type, *r.Size)
	}
	if r.MediaType != "" {
		if err := ValidateMediaType(r.MediaType); err != nil {
			return syntaxf("%s record: %v", r.Type, err)
		}
	}
	if r.Channel != "" && r.Channel != ChannelStaged && r.Channel != ChannelPublished {
		return syntaxf("%s record: channel must be %q or %q", r.Type, ChannelStaged, ChannelPublished)
	}
	if r.URL != "" {
		if err := ValidateURL(r.URL); err != nil {
			return syntaxf("%s record: %v", r.Type, err)
		}
	}
	if r.Reason != "" {
		if err := ValidateReason(r.Reason); err != nil {
			return syntaxf("%s record: %v", r.Type, err)
		}
	}
	if r.Note != "" {
		if err := ValidateDigest(r.Note); err != nil {
			return syntaxf("%s record: note: %v", r.Type, err)
		}
	}
	if r.To != "" {
		if err := translog.ValidateOrigin(r.To); err != nil {
			return syntaxf("%s record: to: %v", r.Type, err)
		}
		v, err := note.NewVerifier(r.ToKey)
		if err != nil {
			return syntaxf("%s record: toKey is not a log verifier key: %v", r.Type, err)
		}
		if v.Name() != r.To {
			return syntaxf("%s record: toKey is the key of %q, not of %q", r.Type, v.Name(), r.To)
		}
		if err := ValidateURL(r.ToURL); err != nil {
			return syntaxf("%s record: toUrl: %v", r.Type, err)
		}
	}
	if r.DeleteWindow != nil && (*r.DeleteWindow < 0 || *r.DeleteWindow > 10*365*24*3600) {
		return syntaxf("%s record: deleteWindow must be 0 to ten years, in seconds", r.Type)
	}
	return r.validateContinue()
}

// Hash returns the record hash of a payload: "sha256:<hex>" of its exact
// bytes. A package's records are chained by these hashes.
func Hash(payload []byte) string {
	sum := sha256.Sum256(payload)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Digest returns "sha256:<hex>" of b; used for notes and content.
func Digest(b []byte) string { return Hash(b) }

// Commitment returns the salted commitment to an identity profile:
// "sha256:" + hex of SHA-256(salt ‖ profile), over the exact bytes of the
// profile JSON. The log holds only the commitment; salt and profile stay
// off the log, where they can be erased.
func Commitment(salt, profile []byte) string {
	h := sha256.New()
	h.Write(salt)
	h.Write(profile)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
