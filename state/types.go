// Package state is Vouch's pure state machine. Given the current state (read
// through a View) and a log entry, Apply either accepts the entry and returns
// the objects it changes, or refuses it with a reason. It does no I/O of its
// own: the server, the auditor and clients all run the same code, so an
// auditor replaying the log reaches exactly the server's verdicts.
package state

import (
	"maps"
	"slices"
	"time"
)

// Identity statuses.
const (
	IdentityActive  = "active"
	IdentityRotated = "rotated"
	IdentityRevoked = "revoked"
)

// Release and package statuses. A release is staged, published, yanked,
// deleted, tombstoned or banished; a package is active, tombstoned or
// banished.
const (
	StatusStaged     = "staged"
	StatusPublished  = "published"
	StatusYanked     = "yanked"
	StatusDeleted    = "deleted"
	StatusTombstoned = "tombstoned"
	StatusBanished   = "banished"
	StatusActive     = "active"
	// StatusMoved is a package handed to another registry (Package.Location
	// names it); StatusImporting one being handed to this registry, whose
	// records arrive one by one until the move record that names it.
	StatusMoved     = "moved"
	StatusImporting = "importing"
)

// Roles that act on packages.
const (
	RoleOwner    = "owner"
	RoleDelegate = "delegate"
	RoleOperator = "operator"
)

// TombstoneReasons are the reason classes a tombstone may give. A
// "legal-hold" tombstone makes content answer 451 instead of 410.
var TombstoneReasons = []string{"integrity", "quality", "malware", "legal-hold"}

// DefaultDeleteWindow is how long after publication an owner may still
// delete a release, unless the operator chain says otherwise.
const DefaultDeleteWindow = 72 * time.Hour

// Identity is a registered public key.
type Identity struct {
	KeyID     string `json:"keyId"`
	PublicKey string `json:"publicKey"`
	// Principal is the key ID that started this key's rotation chain.
	// Ownership and grants name principals, so they survive rotation.
	Principal  string `json:"principal"`
	Status     string `json:"status"`
	RotatedTo  string `json:"rotatedTo,omitempty"`
	Commitment string `json:"commitment,omitempty"`
	Since      uint64 `json:"since"`
	Until      uint64 `json:"until,omitempty"`
}

// Event is one step in a package's or release's history.
type Event struct {
	Index  uint64    `json:"index"`
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Role   string    `json:"role"`
	Signer string    `json:"signer"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// Package is the state of a package.
type Package struct {
	Name string `json:"name"`
	// Owners are principal key IDs.
	Owners []string `json:"owners"`
	// Grants maps a principal key ID to the permissions granted to it.
	Grants map[string][]string `json:"grants,omitempty"`
	// Head is the record hash of the package chain's latest record, and
	// HeadIndex its log index.
	Head      string  `json:"head"`
	HeadIndex uint64  `json:"headIndex"`
	Status    string  `json:"status"`
	Reason    string  `json:"reason,omitempty"`
	Note      string  `json:"note,omitempty"`
	Created   uint64  `json:"created"`
	History   []Event `json:"history"`
	// Versions lists the package's releases, in the order they were
	// created: the verifiable index commits to the package with every
	// release it lists.
	Versions []string `json:"versions,omitempty"`
	// Location is, for a moved package, the registry it moved to; for one
	// being imported, the registry it comes from.
	Location *Location `json:"location,omitempty"`
	// OperatorActed says an operator record acted on the package or one of
	// its releases: such a package cannot move, since the destination could
	// not check those records' authority.
	OperatorActed bool `json:"operatorActed,omitempty"`
}

// Location names another registry: its log's origin, log verifier key and
// URL.
type Location struct {
	Origin string `json:"origin"`
	Key    string `json:"key"`
	URL    string `json:"url,omitempty"`
}

// Release is the state of name@version.
type Release struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Digest  string `json:"digest"`
	// Digests are the content's sha384 and sha512 digests, when the
	// registry recorded them (releases logged before it did have none).
	Digests   []string `json:"digests,omitempty"`
	Size      int64    `json:"size"`
	MediaType string   `json:"mediaType"`
	URL       string   `json:"url,omitempty"`
	Status    string   `json:"status"`
	// Before is the status a tombstone interrupted; lift returns to it.
	Before string `json:"before,omitempty"`
	// YankedBy is the role that yanked a yanked release.
	YankedBy string `json:"yankedBy,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Note     string `json:"note,omitempty"`
	// Index is the log index of the release record: the publish order.
	Index uint64 `json:"index"`
	// PublishedAt is the log time at which the release became published.
	PublishedAt time.Time `json:"publishedAt,omitzero"`
	History     []Event   `json:"history"`
}

// Operators is the state of the operator chain.
type Operators struct {
	// Keys are the operators' principal key IDs.
	Keys      []string `json:"keys"`
	Head      string   `json:"head"`
	HeadIndex uint64   `json:"headIndex"`
	// DeleteWindow is the owner's delete window, in seconds.
	DeleteWindow int64 `json:"deleteWindow"`
	// Continued lists the origins of the logs this log continues.
	Continued []string `json:"continued,omitempty"`
}

// Window returns the delete window as a duration.
func (o *Operators) Window() time.Duration { return time.Duration(o.DeleteWindow) * time.Second }

// Clone returns a deep copy.
func (i *Identity) Clone() *Identity { c := *i; return &c }

// Clone returns a deep copy.
func (p *Package) Clone() *Package {
	c := *p
	c.Owners = slices.Clone(p.Owners)
	c.Grants = maps.Clone(p.Grants)
	for k, v := range c.Grants {
		c.Grants[k] = slices.Clone(v)
	}
	c.History = slices.Clone(p.History)
	c.Versions = slices.Clone(p.Versions)
	if p.Location != nil {
		l := *p.Location
		c.Location = &l
	}
	return &c
}

// Clone returns a deep copy.
func (r *Release) Clone() *Release {
	c := *r
	c.History = slices.Clone(r.History)
	c.Digests = slices.Clone(r.Digests)
	return &c
}

// Clone returns a deep copy.
func (o *Operators) Clone() *Operators {
	c := *o
	c.Keys = slices.Clone(o.Keys)
	return &c
}

// Effective returns the release's status as seen from outside: a tombstoned
// or banished package overrides the status of each of its releases.
func (r *Release) Effective(p *Package) string {
	if p != nil {
		switch {
		case p.Status == StatusBanished:
			return StatusBanished
		case p.Status == StatusTombstoned && r.Status != StatusBanished:
			return StatusTombstoned
		}
	}
	return r.Status
}

// EffectiveReason returns the reason code behind the effective status.
func (r *Release) EffectiveReason(p *Package) string {
	if p != nil && p.Status != StatusActive && r.Status != StatusBanished {
		return p.Reason
	}
	return r.Reason
}

// IsOwner reports whether principal owns the package.
func (p *Package) IsOwner(principal string) bool { return slices.Contains(p.Owners, principal) }

// Can reports whether principal may use permission perm on the package,
// as an owner or through a grant, and the role it acts in.
func (p *Package) Can(principal, perm string) (string, bool) {
	if p.IsOwner(principal) {
		return RoleOwner, true
	}
	if slices.Contains(p.Grants[principal], perm) {
		return RoleDelegate, true
	}
	return "", false
}
