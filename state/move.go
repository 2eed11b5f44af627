package state

import "github.com/vouchdev/vouch/record"

// A package belongs to one registry at a time. Its owners hand it to
// another with a move record, which names the destination; from then on
// the source refuses the owners' writes, naming the destination. The
// destination takes the package's records, its keys' identity records and
// the attestations about its releases, one import entry each, each proven
// in the source log; it replays them through these same rules, and the
// package takes writes there once the move record naming it is imported.
// A package moves on, or back, the same way.

// writable refuses an owner's write to a package that is not active here,
// saying where to write instead. While a package is importing here, or
// has moved away, imported records continue it from whichever registry
// holds them: a package that moved A to B to C comes to C partly from A's
// log and partly from B's, and one that moves back continues from where it
// left. The records' own signatures and hash chain keep their order.
func (a *applier) writable(p *Package) error {
	switch {
	case p.Status == StatusActive && a.from == nil:
		return nil
	case a.from != nil && (p.Status == StatusImporting || p.Status == StatusMoved):
		return nil
	case a.from != nil:
		return refuse(CodeConflict, "package %s is %s here; %s cannot continue it", p.Name, p.Status, a.from)
	case p.Status == StatusMoved && p.Location != nil:
		return refuse(CodeMoved, "package %s moved to %s (%s); its owners write there", p.Name, p.Location.Origin, p.Location.URL)
	case p.Status == StatusImporting && p.Location != nil:
		return refuse(CodeMoved, "package %s is being moved here from %s; it takes writes once the move record that names this registry is imported", p.Name, p.Location.Origin)
	}
	return refuse(CodeInvalidTransition, "package %s is %s; its owners cannot change it", p.Name, p.Status)
}

// move hands the package to the registry the record names.
func (a *applier) move(p *Package, role, signer string) error {
	r := a.r
	if role != RoleOwner {
		return refuse(CodeNotAuthorized, "only an owner of %s may move it", p.Name)
	}
	if a.env.Self == nil {
		return refuse(CodeNotAuthorized, "this registry does not move packages")
	}
	if r.To == a.env.Self.Origin {
		if r.ToKey != a.env.Self.Key {
			return refuse(CodeConflict, "this record moves %s to a log named %s but with another key than this registry's", p.Name, r.To)
		}
		if a.from == nil {
			return refuse(CodeMalformed, "a move must name another registry than this one (%s)", r.To)
		}
		// The imported move record that names this registry: the package
		// is ours now.
		p.Status, p.Location = StatusActive, nil
		p.History = append(p.History, a.event(r.Type, role, signer, StatusImporting, StatusActive))
		return nil
	}
	if a.from != nil {
		return refuse(CodeConflict, "this record moves %s to %s, not to this registry (%s)", p.Name, r.To, a.env.Self.Origin)
	}
	if p.OperatorActed {
		return refuse(CodeConflict, "package %s cannot move: operator records act on it or its releases, whose authority another registry could not check", p.Name)
	}
	p.Status, p.Location = StatusMoved, &Location{Origin: r.To, Key: r.ToKey, URL: r.ToURL}
	p.History = append(p.History, a.event(r.Type, role, signer, StatusActive, StatusMoved))
	return nil
}

// applyImport applies an entry imported from another registry's log: the
// source's checkpoint must verify with the key the import names and prove
// the entry in it, and the entry must pass these rules here, as it did
// there. Identity records of keys this registry knows already change
// nothing; operator records are not imported.
func applyImport(v View, e *record.Entry, env Env) (*Changes, error) {
	ref := e.Import
	if env.Self == nil {
		return nil, refuse(CodeNotAuthorized, "this registry does not import packages")
	}
	if ref.Origin == env.Self.Origin {
		return nil, refuse(CodeMalformed, "an import from this registry's own log")
	}
	if err := ref.Verify(); err != nil {
		return nil, RefusalOf(err)
	}
	inner := e.Inner
	// The imported entry keeps its own log time: publish times and delete
	// windows are the source's.
	ienv := Env{Index: env.Index, Time: inner.Time, Keys: env.Keys, Self: env.Self}
	if inner.Attestation != nil {
		return applyAttestation(v, inner, ienv)
	}
	if inner.Record == nil {
		return nil, refuse(CodeMalformed, "the imported entry holds no record")
	}
	if err := inner.Verify(LookupKey(v, env.Keys)); err != nil {
		return nil, RefusalOf(err)
	}
	a := &applier{v: v, e: inner, r: inner.Record, env: ienv, from: ref}
	if err := a.loadSigners(); err != nil {
		return nil, err
	}
	switch inner.Record.Chain() {
	case record.ChainOperator:
		return nil, refuse(CodeMalformed, "%s is an operator record: operator records are not imported", ref)
	case record.ChainNone:
		if inner.Record.Type == record.TypeIdentity {
			id, err := v.Identity(inner.Record.EmbeddedKeys()[0].ID())
			if err != nil {
				return nil, err
			}
			if id != nil {
				return &Changes{}, nil // known here already
			}
		}
		if err := a.applyIdentity(); err != nil {
			return nil, err
		}
		return &a.out, nil
	}
	if inner.Record.Type == record.TypeCreate {
		if err := a.create(); err != nil {
			return nil, err
		}
		p := a.out.Package
		p.Status, p.Location = StatusImporting, &Location{Origin: ref.Origin, Key: ref.VKey}
		return &a.out, nil
	}
	if err := a.applyPackage(); err != nil {
		return nil, err
	}
	if p := a.out.Package; p != nil && p.Status != StatusActive {
		p.Status, p.Location = StatusImporting, &Location{Origin: ref.Origin, Key: ref.VKey}
	}
	return &a.out, nil
}
