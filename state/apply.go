package state

import (
	"slices"
	"time"

	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// View gives the state machine read access to the state before the entry
// being applied. Each method returns nil (and no error) for an object that
// does not exist; an error means the view itself failed, and the entry is
// neither accepted nor refused.
type View interface {
	Identity(keyID string) (*Identity, error)
	Package(name string) (*Package, error)
	Release(pkg, version string) (*Release, error)
	Operators() (*Operators, error)
	// Content reports whether some release names the content digest
	// (sha256).
	Content(digest string) (bool, error)
	// ContentOf returns the sha256 digest of the release content whose
	// sha384 or sha512 digest is given (recorded with a release; see
	// record.Entry.ContentDigests), or "" if no release records it.
	ContentOf(digest string) (string, error)
	// Attestation reports whether the same statement, signed by the same
	// keys (or, keyless, with the same signature), is already in the log.
	Attestation(a *record.AttestationRef) (bool, error)
	// NameTaken returns the package whose name has the given name key
	// (see record.NameKey), or "" if none has.
	NameTaken(key string) (string, error)
}

// Env is what the state machine knows about the moment an entry is logged.
type Env struct {
	// Index is the entry's log index.
	Index uint64
	// Time is the registry's log time for the entry (never the client's
	// claim).
	Time time.Time
	// Keys caches parsed public keys across entries (nil: no cache).
	Keys *KeyCache
	// Self is the registry applying the entry: a move must name another,
	// and an import's chain must end with a move that names this one.
	// Without it, moves and imports are refused.
	Self *Location
}

// Changes are the objects an accepted entry creates or modifies, in their new
// state.
type Changes struct {
	Identities []*Identity
	Package    *Package
	Releases   []*Release
	Operators  *Operators
	// Contents are content digests named by a release for the first time.
	Contents []string
	// Attestations are the dedup keys of newly logged attestations.
	Attestations []string
	// Keyless is the dedup key of a newly logged keyless attestation,
	// kept as a state object: the index cannot find its replays by signer.
	Keyless string
	// Aliases map the sha384 and sha512 digests a release records of its
	// content to the content's sha256 digest, when first recorded.
	Aliases map[string]string
	// Resolved are the sha256 digests of the release content that an
	// attestation names by sha384 or sha512 only (for the query index).
	Resolved []string
	// NameKey is the name key (see record.NameKey) a new package takes.
	NameKey string
}

// Apply validates entry e against the state seen through v. It returns the
// changes if e is accepted, a *Refusal if e breaks a rule, or another error
// if the view failed. Apply never modifies the objects v returns.
func Apply(v View, e *record.Entry, env Env) (*Changes, error) {
	if e.Import != nil {
		return applyImport(v, e, env)
	}
	if e.Attestation != nil {
		return applyAttestation(v, e, env)
	}
	if e.Record == nil {
		return nil, refuse(CodeMalformed, "entry holds neither a record nor an attestation")
	}
	if err := e.Verify(LookupKey(v, env.Keys)); err != nil {
		return nil, RefusalOf(err)
	}
	a := &applier{v: v, e: e, r: e.Record, env: env}
	if err := a.loadSigners(); err != nil {
		return nil, err
	}
	if err := a.apply(); err != nil {
		return nil, err
	}
	return &a.out, nil
}

type signer struct {
	keyID string
	id    *Identity // nil for a key the record itself introduces
}

type applier struct {
	v       View
	e       *record.Entry
	r       *record.Record
	env     Env
	signers []signer
	out     Changes
	// from is set while applying a record imported from that registry.
	from *record.ImportRef
}

func (a *applier) loadSigners() error {
	for _, k := range a.e.Signers() {
		id, err := a.v.Identity(k)
		if err != nil {
			return err
		}
		if id != nil && id.Status != IdentityActive {
			return refuse(CodeKeyInactive, "key %s is %s and can no longer sign", k, id.Status)
		}
		a.signers = append(a.signers, signer{keyID: k, id: id})
	}
	return nil
}

// signedBy reports whether keyID signed the entry.
func (a *applier) signedBy(keyID string) bool {
	for _, s := range a.signers {
		if s.keyID == keyID {
			return true
		}
	}
	return false
}

func (a *applier) event(action, role, signer, from, to string) Event {
	return Event{Index: a.env.Index, Time: a.env.Time, Action: action, Role: role, Signer: signer,
		From: from, To: to, Reason: a.r.Reason, Note: a.r.Note}
}

func (a *applier) apply() error {
	switch a.r.Chain() {
	case record.ChainNone:
		return a.applyIdentity()
	case record.ChainOperator:
		if a.r.Type == record.TypeGenesis {
			return a.genesis()
		}
		return a.applyOperator()
	default:
		return a.applyPackage()
	}
}

// activeIdentity loads the identity named in a record field; it must exist
// and be active.
func (a *applier) activeIdentity(keyID, what string) (*Identity, error) {
	id, err := a.v.Identity(keyID)
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, refuse(CodeUnknownIdentity, "%s %s is not a registered identity", what, keyID)
	}
	if id.Status != IdentityActive {
		return nil, refuse(CodeKeyInactive, "%s %s is %s", what, keyID, id.Status)
	}
	return id, nil
}

// ownerPrincipals resolves the owners named in a record to principals.
func (a *applier) ownerPrincipals() ([]string, error) {
	var out []string
	for _, o := range a.r.Owners {
		id, err := a.activeIdentity(o, "owner")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, id.Principal) {
			out = append(out, id.Principal)
		}
	}
	return out, nil
}

func (a *applier) applyIdentity() error {
	r := a.r
	switch r.Type {
	case record.TypeIdentity:
		p, _ := keys.ParsePublicBase64(r.PublicKey)
		if len(a.signers) != 1 || a.signers[0].keyID != p.ID() {
			return refuse(CodeNotAuthorized, "an identity record must be signed by the key it registers (%s), and only by it", p.ID())
		}
		old, err := a.v.Identity(p.ID())
		if err != nil {
			return err
		}
		if old != nil {
			return refuse(CodeIdentityExists, "key %s is already registered (%s)", p.ID(), old.Status)
		}
		a.out.Identities = []*Identity{{KeyID: p.ID(), PublicKey: r.PublicKey, Principal: p.ID(),
			Status: IdentityActive, Commitment: r.Commitment, Since: a.env.Index}}
		return nil

	case record.TypeIdentityRotate:
		p, _ := keys.ParsePublicBase64(r.PublicKey)
		old, err := a.activeIdentity(r.KeyID, "key")
		if err != nil {
			return err
		}
		if !a.signedBy(r.KeyID) || !a.signedBy(p.ID()) {
			return refuse(CodeNotAuthorized, "a rotation must be signed by both the old key %s and the new key %s", r.KeyID, p.ID())
		}
		exists, err := a.v.Identity(p.ID())
		if err != nil {
			return err
		}
		if exists != nil {
			return refuse(CodeIdentityExists, "new key %s is already registered", p.ID())
		}
		o := old.Clone()
		o.Status, o.RotatedTo, o.Until = IdentityRotated, p.ID(), a.env.Index
		a.out.Identities = []*Identity{o, {KeyID: p.ID(), PublicKey: r.PublicKey, Principal: old.Principal,
			Status: IdentityActive, Commitment: r.Commitment, Since: a.env.Index}}
		return nil

	case record.TypeIdentityRevoke:
		old, err := a.activeIdentity(r.KeyID, "key")
		if err != nil {
			return err
		}
		if !a.signedBy(r.KeyID) {
			return refuse(CodeNotAuthorized, "a revocation must be signed by the key it revokes (%s)", r.KeyID)
		}
		o := old.Clone()
		o.Status, o.Until = IdentityRevoked, a.env.Index
		a.out.Identities = []*Identity{o}
		return nil
	}
	return refuse(CodeMalformed, "unhandled record type %q", r.Type)
}

func (a *applier) genesis() error {
	ops, err := a.v.Operators()
	if err != nil {
		return err
	}
	if ops != nil {
		return refuse(CodeGenesisExists, "the operator chain already has a genesis record")
	}
	window := int64(DefaultDeleteWindow / time.Second)
	if a.r.DeleteWindow != nil {
		window = *a.r.DeleteWindow
	}
	o := &Operators{DeleteWindow: window, Head: a.e.Hash(), HeadIndex: a.env.Index}
	for _, pk := range a.r.EmbeddedKeys() {
		if !a.signedBy(pk.ID()) {
			return refuse(CodeNotAuthorized, "genesis must be signed by every key it names; %s did not sign", pk.ID())
		}
		id, err := a.v.Identity(pk.ID())
		if err != nil {
			return err
		}
		if id == nil {
			id = &Identity{KeyID: pk.ID(), PublicKey: pk.Base64(), Principal: pk.ID(), Status: IdentityActive, Since: a.env.Index}
			a.out.Identities = append(a.out.Identities, id)
		} else if id.Status != IdentityActive {
			return refuse(CodeKeyInactive, "operator key %s is %s", pk.ID(), id.Status)
		}
		o.Keys = append(o.Keys, id.Principal)
	}
	a.out.Operators = o
	return nil
}

// operatorSigner returns the operator key that signed, or a refusal.
func (a *applier) operatorSigner(ops *Operators) (string, error) {
	for _, s := range a.signers {
		if s.id != nil && slices.Contains(ops.Keys, s.id.Principal) {
			return s.keyID, nil
		}
	}
	return "", refuse(CodeNotAuthorized, "%s record must be signed by an operator key", a.r.Type)
}

func (a *applier) applyOperator() error {
	r := a.r
	ops, err := a.v.Operators()
	if err != nil {
		return err
	}
	if ops == nil {
		return refuse(CodeNoOperator, "the operator chain has not started (no genesis record)")
	}
	signer, err := a.operatorSigner(ops)
	if err != nil {
		return err
	}
	if r.Prev != ops.Head {
		return refuse(CodeStalePrev, "prev %s is not the operator chain's head %s", r.Prev, ops.Head)
	}
	o := ops.Clone()
	o.Head, o.HeadIndex = a.e.Hash(), a.env.Index
	a.out.Operators = o
	switch r.Type {
	case record.TypeSettings:
		o.DeleteWindow = *r.DeleteWindow
		return nil
	case record.TypeGrantOperator:
		id, err := a.activeIdentity(r.KeyID, "key")
		if err != nil {
			return err
		}
		if slices.Contains(o.Keys, id.Principal) {
			return refuse(CodeConflict, "%s is already an operator", r.KeyID)
		}
		o.Keys = append(o.Keys, id.Principal)
		return nil
	case record.TypeRevokeOperator:
		id, err := a.v.Identity(r.KeyID)
		if err != nil {
			return err
		}
		if id == nil || !slices.Contains(o.Keys, id.Principal) {
			return refuse(CodeConflict, "%s is not an operator", r.KeyID)
		}
		if len(o.Keys) == 1 {
			return refuse(CodeConflict, "cannot revoke the last operator")
		}
		o.Keys = slices.DeleteFunc(o.Keys, func(k string) bool { return k == id.Principal })
		return nil
	case record.TypeContinue:
		return a.applyContinue(o)
	}
	// The remaining operator records act on a package.
	pkg, err := a.pkg()
	if err != nil {
		return err
	}
	if pkg.Status == StatusBanished {
		return refuse(CodeInvalidTransition, "package %s is banished; nothing leaves banished", pkg.Name)
	}
	if (pkg.Status == StatusMoved || pkg.Status == StatusImporting) && r.Type != record.TypeBanish {
		// The package lives in another registry, whose operators act on
		// it. Only a banish, which purges what this registry holds, stays
		// this registry's business.
		return refuse(CodeMoved, "package %s is %s (%s): only a banish of what this registry holds is its operators' business", pkg.Name, pkg.Status, pkg.Location.Origin)
	}
	p := pkg.Clone()
	p.OperatorActed = true
	a.out.Package = p
	switch r.Type {
	case record.TypeTransfer:
		owners, err := a.ownerPrincipals()
		if err != nil {
			return err
		}
		p.History = append(p.History, a.event(r.Type, RoleOperator, signer, "", ""))
		p.Owners, p.Grants = owners, nil
		a.out.Package = p
		return nil
	case record.TypeTombstone, record.TypeLift, record.TypeBanish:
		if r.Type == record.TypeTombstone && !slices.Contains(TombstoneReasons, r.Reason) {
			return refuse(CodeMalformed, "tombstone reason must be one of %v", TombstoneReasons)
		}
		if r.Version == "" {
			return a.packageAction(p, signer)
		}
	}
	rel, err := a.release(r.Version)
	if err != nil {
		return err
	}
	return a.transition(p, rel, RoleOperator, signer, false)
}

// packageAction tombstones, lifts or banishes a whole package.
func (a *applier) packageAction(p *Package, signer string) error {
	from := p.Status
	switch a.r.Type {
	case record.TypeTombstone:
		if p.Status != StatusActive {
			return refuse(CodeInvalidTransition, "package %s is %s, not active", p.Name, p.Status)
		}
		p.Status = StatusTombstoned
	case record.TypeLift:
		if p.Status != StatusTombstoned {
			return refuse(CodeInvalidTransition, "package %s is %s, not tombstoned", p.Name, p.Status)
		}
		p.Status = StatusActive
	case record.TypeBanish:
		p.Status = StatusBanished
	}
	if a.r.Type == record.TypeLift {
		p.Reason, p.Note = "", ""
	} else {
		p.Reason, p.Note = a.r.Reason, a.r.Note
	}
	p.History = append(p.History, a.event(a.r.Type, RoleOperator, signer, from, p.Status))
	a.out.Package = p
	return nil
}

func (a *applier) pkg() (*Package, error) {
	p, err := a.v.Package(a.r.Package)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, refuse(CodeUnknownPackage, "package %s does not exist", a.r.Package)
	}
	return p, nil
}

func (a *applier) release(version string) (*Release, error) {
	rel, err := a.v.Release(a.r.Package, version)
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, refuse(CodeUnknownRelease, "release %s@%s does not exist", a.r.Package, version)
	}
	return rel, nil
}

// permFor is the permission each package record needs.
var permFor = map[string]string{
	record.TypeGrant:   record.PermGrant,
	record.TypeRevoke:  record.PermGrant,
	record.TypeRelease: record.PermPublish,
	record.TypePromote: record.PermPublish,
	record.TypeYank:    record.PermYank,
	record.TypeUnyank:  record.PermYank,
	record.TypeDelete:  record.PermDelete,
}

func (a *applier) applyPackage() error {
	r := a.r
	if r.Type == record.TypeCreate {
		return a.create()
	}
	pkg, err := a.pkg()
	if err != nil {
		return err
	}
	if err := a.writable(pkg); err != nil {
		return err
	}
	role, signer := "", ""
	for _, s := range a.signers {
		if s.id == nil {
			continue
		}
		if ro, ok := pkg.Can(s.id.Principal, permFor[r.Type]); ok {
			role, signer = ro, s.keyID
			if ro == RoleOwner {
				break
			}
		}
	}
	if signer == "" {
		return refuse(CodeNotAuthorized, "no signer of this %s record owns %s or holds the %q permission on it", r.Type, pkg.Name, permFor[r.Type])
	}
	if r.Prev != pkg.Head {
		return refuse(CodeStalePrev, "prev %s is not the head of %s (%s); fetch the package and retry", r.Prev, pkg.Name, pkg.Head)
	}
	p := pkg.Clone()
	p.Head, p.HeadIndex = a.e.Hash(), a.env.Index
	a.out.Package = p
	switch r.Type {
	case record.TypeMove:
		return a.move(p, role, signer)
	case record.TypeGrant:
		id, err := a.activeIdentity(r.KeyID, "key")
		if err != nil {
			return err
		}
		if p.Grants == nil {
			p.Grants = map[string][]string{}
		}
		perms := p.Grants[id.Principal]
		for _, perm := range r.Permissions {
			if !slices.Contains(perms, perm) {
				perms = append(perms, perm)
			}
		}
		slices.Sort(perms)
		p.Grants[id.Principal] = perms
		p.History = append(p.History, a.event(r.Type, role, signer, "", id.Principal))
		return nil
	case record.TypeRevoke:
		id, err := a.v.Identity(r.KeyID)
		if err != nil {
			return err
		}
		if id == nil || p.Grants[id.Principal] == nil {
			return refuse(CodeConflict, "%s holds no grant on %s", r.KeyID, p.Name)
		}
		delete(p.Grants, id.Principal)
		p.History = append(p.History, a.event(r.Type, role, signer, id.Principal, ""))
		return nil
	case record.TypeRelease:
		old, err := a.v.Release(r.Package, r.Version)
		if err != nil {
			return err
		}
		if old != nil {
			return refuse(CodeVersionExists, "%s@%s already exists (%s); a version is never reused", r.Package, r.Version, old.Status)
		}
		rel := &Release{Package: r.Package, Version: r.Version, Digest: r.Digest, Size: *r.Size,
			MediaType: r.MediaType, URL: r.URL, Status: r.Channel, Index: a.env.Index}
		if r.Channel == record.ChannelPublished {
			rel.PublishedAt = a.env.Time
		}
		rel.History = []Event{a.event(r.Type, role, signer, "", rel.Status)}
		a.out.Releases = []*Release{rel}
		p.Versions = append(p.Versions, r.Version)
		known, err := a.v.Content(r.Digest)
		if err != nil {
			return err
		}
		if !known {
			a.out.Contents = []string{r.Digest}
		}
		return a.recordDigests(rel)
	}
	rel, err := a.release(r.Version)
	if err != nil {
		return err
	}
	if err := a.transition(p, rel, role, signer, true); err != nil {
		return err
	}
	if r.Type == record.TypePromote && len(a.e.ContentDigests) > 0 {
		return a.recordDigests(a.out.Releases[0])
	}
	return nil
}

// recordDigests records the digests the registry computed of a release's
// content besides its sha256 (a release or promote leaf's digests). A
// release records them once; an alias already naming other content is a
// contradiction.
func (a *applier) recordDigests(rel *Release) error {
	ds := a.e.ContentDigests
	if len(ds) == 0 {
		return nil
	}
	if len(rel.Digests) > 0 {
		return refuse(CodeMalformed, "%s@%s already records the digests of its content", rel.Package, rel.Version)
	}
	for _, d := range ds {
		got, err := a.v.ContentOf(d)
		if err != nil {
			return err
		}
		switch got {
		case rel.Digest:
		case "":
			if a.out.Aliases == nil {
				a.out.Aliases = map[string]string{}
			}
			a.out.Aliases[d] = rel.Digest
		default:
			return refuse(CodeContentMismatch, "%s is recorded as the digest of %s, not %s", d, got, rel.Digest)
		}
	}
	rel.Digests = slices.Clone(ds)
	return nil
}

func (a *applier) create() error {
	old, err := a.v.Package(a.r.Package)
	if err != nil {
		return err
	}
	if old != nil {
		return refuse(CodePackageExists, "package %s already exists", a.r.Package)
	}
	key := record.NameKey(a.r.Package)
	taken, err := a.v.NameTaken(key)
	if err != nil {
		return err
	}
	if taken != "" {
		return refuse(CodePackageExists, "package name %s is too close to the existing package %s: names that differ only in -, _ and . are the same name", a.r.Package, taken)
	}
	owners, err := a.ownerPrincipals()
	if err != nil {
		return err
	}
	signer := ""
	for _, s := range a.signers {
		if s.id != nil && slices.Contains(owners, s.id.Principal) {
			signer = s.keyID
			break
		}
	}
	if signer == "" {
		return refuse(CodeNotAuthorized, "a create record must be signed by one of the owners it names")
	}
	p := &Package{Name: a.r.Package, Owners: owners, Head: a.e.Hash(), HeadIndex: a.env.Index, Status: StatusActive, Created: a.env.Index}
	p.History = []Event{a.event(a.r.Type, RoleOwner, signer, "", StatusActive)}
	a.out.Package, a.out.NameKey = p, key
	return nil
}

// transition applies promote, yank, unyank, delete, tombstone, lift or
// banish to one release, for the owner side (byOwner) or the operator.
func (a *applier) transition(p *Package, old *Release, role, signer string, byOwner bool) error {
	rel := old.Clone()
	from := rel.Status
	bad := func() error {
		return refuse(CodeInvalidTransition, "%s cannot %s %s@%s: it is %s", role, a.r.Type, rel.Package, rel.Version, from)
	}
	if from == StatusBanished {
		return refuse(CodeInvalidTransition, "%s@%s is banished; nothing leaves banished", rel.Package, rel.Version)
	}
	if byOwner && from == StatusTombstoned {
		return bad()
	}
	switch a.r.Type {
	case record.TypePromote:
		if from != StatusStaged {
			return bad()
		}
		rel.Status, rel.PublishedAt = StatusPublished, a.env.Time
	case record.TypeYank:
		if from != StatusPublished {
			return bad()
		}
		rel.Status, rel.YankedBy = StatusYanked, role
		if role == RoleDelegate {
			rel.YankedBy = RoleOwner
		}
	case record.TypeUnyank:
		if from != StatusYanked {
			return bad()
		}
		if byOwner && rel.YankedBy == RoleOperator {
			return refuse(CodeNotAuthorized, "%s@%s was yanked by the operator; only the operator can unyank it", rel.Package, rel.Version)
		}
		rel.Status, rel.YankedBy = StatusPublished, ""
	case record.TypeDelete:
		switch from {
		case StatusStaged:
		case StatusPublished, StatusYanked:
			if byOwner {
				w, err := a.deleteWindow()
				if err != nil {
					return err
				}
				if a.env.Time.Sub(rel.PublishedAt) > w {
					return refuse(CodeWindowClosed, "%s@%s was published at %s; owners may delete only within %s of publication",
						rel.Package, rel.Version, rel.PublishedAt.Format(time.RFC3339), w)
				}
			}
		case StatusTombstoned:
			if byOwner {
				return bad()
			}
		default:
			return bad()
		}
		rel.Status = StatusDeleted
	case record.TypeTombstone:
		if from == StatusTombstoned {
			return bad()
		}
		rel.Status, rel.Before = StatusTombstoned, from
	case record.TypeLift:
		if from != StatusTombstoned {
			return bad()
		}
		rel.Status, rel.Before = rel.Before, ""
	case record.TypeBanish:
		rel.Status = StatusBanished
	default:
		return refuse(CodeMalformed, "unhandled record type %q", a.r.Type)
	}
	if a.r.Type == record.TypeLift || a.r.Type == record.TypeUnyank || a.r.Type == record.TypePromote {
		rel.Reason, rel.Note = "", ""
	} else {
		rel.Reason, rel.Note = a.r.Reason, a.r.Note
	}
	rel.History = append(rel.History, a.event(a.r.Type, role, signer, from, rel.Status))
	a.out.Releases = []*Release{rel}
	if byOwner {
		a.out.Package = p
	}
	return nil
}

// deleteWindow returns the operator chain's delete window, or the default
// when the chain has not started.
func (a *applier) deleteWindow() (time.Duration, error) {
	ops, err := a.v.Operators()
	if err != nil || ops == nil {
		return DefaultDeleteWindow, err
	}
	return ops.Window(), nil
}
