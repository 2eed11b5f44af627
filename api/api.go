// Package api defines the JSON documents of Vouch's HTTP API, shared by the
// server that writes them and the client library that reads them.
package api

import (
	"encoding/json"
	"time"
)

// ImportedFrom says that an entry was imported from another registry's log
// (a package that moved here) and where it stands there.
type ImportedFrom struct {
	Origin string `json:"origin"`
	Index  uint64 `json:"index"`
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable machine-readable code and a
// message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Event is one step of a history.
type Event struct {
	Index  uint64    `json:"index"`
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Role   string    `json:"role"`
	Signer string    `json:"signer,omitempty"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// Release is a release as the API shows it. Which fields are present
// depends on its state (SPEC §3, "what stays visible").
type Release struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Status  string `json:"status"`
	Digest  string `json:"digest,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Visible for staged, published and yanked releases.
	//
	// Digests are the content's sha384 and sha512 digests, recorded by the
	// registry with the release (absent for releases logged before it did,
	// and for linked content not fetched yet).
	Digests     []string    `json:"digests,omitempty"`
	Size        int64       `json:"size,omitempty"`
	MediaType   string      `json:"mediaType,omitempty"`
	URL         string      `json:"url,omitempty"`
	Index       uint64      `json:"index,omitempty"`
	PublishedAt *time.Time  `json:"publishedAt,omitempty"`
	Unvalidated bool        `json:"unvalidated,omitempty"`
	YankedBy    string      `json:"yankedBy,omitempty"`
	Note        string      `json:"note,omitempty"`
	NoteDigest  string      `json:"noteDigest,omitempty"`
	NoteErased  bool        `json:"noteErased,omitempty"`
	Content     *ContentRef `json:"content,omitempty"`
	History     []Event     `json:"history,omitempty"`
	// For deleted releases: when and by which role.
	RemovedAt *time.Time `json:"removedAt,omitempty"`
	RemovedBy string     `json:"removedBy,omitempty"`
}

// ContentRef says where a release's content is.
type ContentRef struct {
	Href string `json:"href"`
	// Verified: the registry holds the bytes and checked their digest.
	Verified bool `json:"verified"`
}

// Package is a package as the API shows it.
type Package struct {
	Name      string              `json:"name"`
	Status    string              `json:"status"`
	Reason    string              `json:"reason,omitempty"`
	Owners    []string            `json:"owners"`
	Grants    map[string][]string `json:"grants,omitempty"`
	Head      string              `json:"head"`
	HeadIndex uint64              `json:"headIndex"`
	Created   uint64              `json:"created"`
	// Location is, for a package that moved away (status "moved"), the
	// registry it moved to; for one being moved here ("importing"), the
	// registry it comes from.
	Location *Location `json:"location,omitempty"`
	Latest   string    `json:"latest,omitempty"`
	Releases []Release `json:"releases,omitempty"`
	History  []Event   `json:"history,omitempty"`
	// The tree size the answer is for, and the checkpoint it is valid for.
	TreeSize   uint64      `json:"treeSize,omitempty"`
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// Complete is the index's proof of the whole package, with
	// proof=complete.
	Complete *Completeness `json:"complete,omitempty"`
}

// Completeness is the verifiable index's proof that an answer leaves
// nothing out (see docs/complete-answers.md): the key the answer is about,
// its complete value at tree size TreeSize (whose checkpoint commits to the
// index's root in its "vouch-index" line), and the proof of that value, or
// of the key's absence, against the root.
type Completeness struct {
	// Kind is "package", "subject" or "signer"; Key the package name,
	// content digest or key ID.
	Kind string `json:"kind"`
	Key  string `json:"key"`
	// TreeSize is the size of the checkpoint the proof is against.
	TreeSize uint64 `json:"treeSize"`
	// Present says whether the index holds the key.
	Present bool `json:"present"`
	// Value is, for a package, its state and that of every release it
	// lists, as the index commits to them: the JSON document
	// {"package": …, "releases": […]}, base64-encoded so its bytes are
	// exact.
	Value []byte `json:"value,omitempty"`
	// Indexes are, for a subject or signer, every log index the key's
	// list holds, in order.
	Indexes []uint64 `json:"indexes,omitempty"`
	// Proof is the sibling nodes from the key's leaf (or where it would
	// be) to the root.
	Proof []IndexProofNode `json:"proof"`
}

// IndexProofNode is one node of an index proof: its label ("BITLEN:HEX",
// or "empty") and hash.
type IndexProofNode struct {
	Label string `json:"label"`
	Hash  []byte `json:"hash"`
}

// Location names another registry: its log's origin, its log verifier
// key, and, when known, the URL it serves its API at.
type Location struct {
	Origin string `json:"origin"`
	Key    string `json:"key"`
	URL    string `json:"url,omitempty"`
}

// ReleaseResponse answers GET /api/v1/packages/{name}/versions/{version}.
type ReleaseResponse struct {
	Release
	Error      *ErrorDetail `json:"error,omitempty"`
	TreeSize   uint64       `json:"treeSize"`
	Checkpoint *Checkpoint  `json:"checkpoint"`
	// Complete is the index's proof of the release's package, with
	// proof=complete.
	Complete *Completeness `json:"complete,omitempty"`
}

// PackageList answers GET /api/v1/packages.
type PackageList struct {
	Packages   []Package   `json:"packages"`
	Next       string      `json:"next,omitempty"`
	TreeSize   uint64      `json:"treeSize"`
	Checkpoint *Checkpoint `json:"checkpoint"`
}

// BlobResponse answers PUT /api/v1/blobs/{digest}.
type BlobResponse struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Checkpoint is a checkpoint in API responses.
type Checkpoint struct {
	Origin string    `json:"origin"`
	Size   uint64    `json:"size"`
	Root   string    `json:"rootHash"`
	Time   time.Time `json:"time"`
	Note   string    `json:"note"`
}

// CheckpointList answers GET /api/v1/checkpoints.
type CheckpointList struct {
	Checkpoints []*Checkpoint `json:"checkpoints"`
}

// AppendResponse answers POST /api/v1/entries.
type AppendResponse struct {
	Index    uint64    `json:"index"`
	LeafHash string    `json:"leafHash"`
	Hash     string    `json:"hash,omitempty"`
	Time     time.Time `json:"time"`
	// Set when the request asked to wait for integration.
	TreeSize       uint64      `json:"treeSize,omitempty"`
	InclusionProof []string    `json:"inclusionProof,omitempty"`
	Checkpoint     *Checkpoint `json:"checkpoint,omitempty"`
	Proof          string      `json:"proof,omitempty"`
}

// EntryResponse answers GET /api/v1/entries/{index}.
type EntryResponse struct {
	Index          uint64          `json:"index"`
	Leaf           string          `json:"leaf"`
	Entry          json.RawMessage `json:"entry"`
	LeafHash       string          `json:"leafHash"`
	Time           time.Time       `json:"time"`
	IntegratedTime *time.Time      `json:"integratedTime,omitempty"`
	TreeSize       uint64          `json:"treeSize"`
	InclusionProof []string        `json:"inclusionProof"`
	Checkpoint     *Checkpoint     `json:"checkpoint,omitempty"`
}

// ConsistencyResponse answers GET /api/v1/proof/consistency.
type ConsistencyResponse struct {
	From  uint64   `json:"from"`
	To    uint64   `json:"to"`
	Proof []string `json:"proof"`
}

// InclusionResponse answers GET /api/v1/proof/inclusion.
type InclusionResponse struct {
	Index    uint64   `json:"index"`
	TreeSize uint64   `json:"treeSize"`
	Proof    []string `json:"proof"`
}

// Operators answers GET /api/v1/operators: the operator chain's state.
type Operators struct {
	Keys         []string    `json:"keys"`
	Head         string      `json:"head"`
	HeadIndex    uint64      `json:"headIndex"`
	DeleteWindow int64       `json:"deleteWindowSeconds"`
	TreeSize     uint64      `json:"treeSize"`
	Checkpoint   *Checkpoint `json:"checkpoint"`
}

// Identity answers GET /api/v1/identities/{keyId}.
type Identity struct {
	KeyID      string      `json:"keyId"`
	PublicKey  string      `json:"publicKey"`
	Principal  string      `json:"principal"`
	Status     string      `json:"status"`
	RotatedTo  string      `json:"rotatedTo,omitempty"`
	Commitment string      `json:"commitment,omitempty"`
	Since      uint64      `json:"since"`
	Until      uint64      `json:"until,omitempty"`
	Profile    *Profile    `json:"profile,omitempty"`
	Erased     bool        `json:"erased,omitempty"`
	TreeSize   uint64      `json:"treeSize"`
	Checkpoint *Checkpoint `json:"checkpoint"`
}

// Profile is the off-log personal data of an identity.
type Profile struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Org   string `json:"org,omitempty"`
	URL   string `json:"url,omitempty"`
}

// CertIdentity is the signer of a keyless attestation, as its certificate
// names it: the OIDC issuer, the subject (an email address, or a CI
// workflow's URI), and the certificate's Fulcio extensions under their
// Fulcio names (sourceRepositoryURI, sourceRepositoryRef,
// sourceRepositoryDigest, buildConfigURI, runnerEnvironment...). It is
// personal data: it is kept off the log, with the bundle, and erased with
// it.
type CertIdentity struct {
	Issuer     string            `json:"issuer"`
	Subject    string            `json:"subject"`
	Extensions map[string]string `json:"extensions,omitempty"`
}

// Vars returns the identity as a flat map, as CEL expressions see it:
// issuer, subject, and every extension.
func (c *CertIdentity) Vars() map[string]string {
	m := make(map[string]string, len(c.Extensions)+2)
	for k, v := range c.Extensions {
		m[k] = v
	}
	m["issuer"], m["subject"] = c.Issuer, c.Subject
	return m
}

// AdminPayloadType is the DSSE payload type of an operator's signed request
// to POST /api/v1/admin.
const AdminPayloadType = "application/vnd.vouch.admin+json"

// AdminRequest is the payload of an operator's signed request. Actions:
// "erase" with Identity (a key ID), Attestation (a log index) or Keyless
// (a certificate identity).
type AdminRequest struct {
	Action      string  `json:"action"`
	Identity    string  `json:"identity,omitempty"`
	Attestation *uint64 `json:"attestation,omitempty"`
	// Keyless names a keyless signer by issuer and subject (exactly):
	// "erase" removes the bundles, identities and statements of every
	// keyless attestation its certificate names.
	Keyless *CertIdentity `json:"keyless,omitempty"`
	// Time is when the request was made (RFC 3339); the registry refuses
	// requests more than ten minutes off its clock.
	Time string `json:"time"`
	// Nonce makes each request unique. The registry carries out a signed
	// request once: the same request sent again is refused as a replay.
	Nonce string `json:"nonce,omitempty"`
}

// EraseResponse answers an erase request.
type EraseResponse struct {
	Profiles   int `json:"profiles"`
	Notes      int `json:"notes"`
	Statements int `json:"statements"`
	// Bundles counts keyless attestations' bundles and identities.
	Bundles int `json:"bundles,omitempty"`
}

// QueryItem is one entry in the answer to GET /api/v1/query.
type QueryItem struct {
	Index         uint64          `json:"index"`
	Time          time.Time       `json:"time"`
	Kind          string          `json:"kind"`
	Type          string          `json:"type"`
	Package       string          `json:"package,omitempty"`
	Version       string          `json:"version,omitempty"`
	Signers       []string        `json:"signers"`
	Subjects      []string        `json:"subjects,omitempty"`
	PredicateType string          `json:"predicateType,omitempty"`
	PayloadDigest string          `json:"payloadDigest,omitempty"`
	Releases      []ReleaseState  `json:"releases,omitempty"`
	Fields        map[string]any  `json:"fields,omitempty"`
	Predicate     map[string]any  `json:"predicate,omitempty"`
	Erased        bool            `json:"erased,omitempty"`
	Record        json.RawMessage `json:"record,omitempty"`
	// ImportedFrom is set for an entry imported from another registry.
	ImportedFrom *ImportedFrom `json:"importedFrom,omitempty"`
	// Identities are a keyless attestation's signers, as its certificate
	// names them (absent once erased); Keyless says it is one.
	Identities []CertIdentity `json:"identities,omitempty"`
	Keyless    bool           `json:"keyless,omitempty"`
}

// ReleaseState is a release an entry is about, with its state at the
// query's tree size.
type ReleaseState struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Status  string `json:"status"`
}

// QueryResponse answers GET /api/v1/query.
type QueryResponse struct {
	Items []QueryItem `json:"items"`
	// Next is the cursor of the next page; empty when there is none.
	Next       string      `json:"next,omitempty"`
	TreeSize   uint64      `json:"treeSize"`
	Checkpoint *Checkpoint `json:"checkpoint"`
	// Complete is the index's proof of every entry about the subject, or
	// by the signer, with proof=complete.
	Complete *Completeness `json:"complete,omitempty"`
}

// Attestation answers GET /api/v1/attestations/{index}: the log's
// reference, and the statement and envelope unless erased.
type Attestation struct {
	Index         uint64          `json:"index"`
	Time          time.Time       `json:"time"`
	PayloadDigest string          `json:"payloadDigest"`
	PredicateType string          `json:"predicateType"`
	Subjects      []string        `json:"subjects"`
	Signers       []string        `json:"signers"`
	Erased        bool            `json:"erased"`
	Statement     json.RawMessage `json:"statement,omitempty"`
	Envelope      json.RawMessage `json:"envelope,omitempty"`
	// For a keyless attestation: the bundle (or PEP 740 attestation)
	// exactly as submitted, its signer's identity, and the log's
	// reference to it (digest, media type, signature, trusted root).
	Bundle     []byte          `json:"bundle,omitempty"`
	Identities []CertIdentity  `json:"identities,omitempty"`
	BundleRef  json.RawMessage `json:"bundleRef,omitempty"`
}

// Statements answers GET /api/v1/statements: the statements of the
// attestations in a range of the log, for auditors.
type Statements struct {
	Statements []StatementBody `json:"statements"`
}

// StatementBody is one attestation's statement, or a note that it was
// erased.
type StatementBody struct {
	Index     uint64 `json:"index"`
	Statement []byte `json:"statement,omitempty"`
	// Bundle is a keyless attestation's bundle (or PEP 740 attestation),
	// as submitted; its statement is the bundle's.
	Bundle []byte `json:"bundle,omitempty"`
	Erased bool   `json:"erased,omitempty"`
}

// Status answers GET /api/v1/status: what this server is doing, for
// operators and monitoring.
type Status struct {
	Origin string `json:"origin"`
	// Integrator says whether this server integrates the log and signs
	// checkpoints (exactly one server of a deployment does).
	Integrator bool `json:"integrator"`
	// Sequenced is the number of entries stored; TreeSize the size of the
	// latest checkpoint. A gap that does not close means integration is
	// stuck.
	Sequenced      uint64    `json:"sequenced"`
	TreeSize       uint64    `json:"treeSize"`
	CheckpointTime time.Time `json:"checkpointTime"`
	// WitnessedSize is the size of the newest checkpoint a quorum of the
	// witness policy cosigned (with a policy: what /log/checkpoint serves).
	WitnessedSize uint64 `json:"witnessedSize,omitempty"`
	// Witnesses is the state of each witness (on the replica that
	// submits to them).
	Witnesses []WitnessStatus `json:"witnesses,omitempty"`
	// Alarms are signs that someone saw another history of this log.
	Alarms []string `json:"alarms,omitempty"`
	// Mirror is set on a mirror: what it follows, and how far behind it is.
	Mirror *MirrorStatus `json:"mirror,omitempty"`
}

// MirrorStatus is the state of a mirror.
type MirrorStatus struct {
	// Upstream is the registry (or mirror) followed.
	Upstream string `json:"upstream"`
	// UpstreamSize is the size of the upstream's latest checkpoint seen;
	// Size the mirror's; Lag the difference.
	UpstreamSize uint64    `json:"upstreamSize"`
	Size         uint64    `json:"size"`
	Lag          uint64    `json:"lag"`
	LastSync     time.Time `json:"lastSync,omitzero"`
	LastError    string    `json:"lastError,omitempty"`
	// Erased is the sequence number of the upstream's last erasure the
	// mirror has carried out (see Erasure), data deleted and files
	// compacted; 0 before the first.
	Erased uint64 `json:"erased,omitempty"`
	// Stopped is set when the mirror stopped following on evidence that
	// the upstream misbehaved; Evidence says what it saw.
	Stopped  bool   `json:"stopped"`
	Evidence string `json:"evidence,omitempty"`
}

// WitnessStatus is what the registry knows of one witness.
type WitnessStatus struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Size is the tree size the witness last cosigned.
	Size        uint64    `json:"size"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	// Alarm is set when the witness refused a checkpoint in a way that
	// means it saw another history of this log.
	Alarm string `json:"alarm,omitempty"`
}
