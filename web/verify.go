package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/policy"
	"github.com/vouchdev/vouch/record"
)

// maxEvidence bounds the statements one policy evaluation gathers.
const maxEvidence = 1000

type verifyData struct {
	base
	R          api.Release
	Action     string
	Policy     string
	Error      string
	Verdict    *policy.Verdict
	Stopped    string
	Records    int
	Statements int
	Command    string
}

// verify shows the policy form of a release (GET) and evaluates a pasted
// policy against the release's evidence as of the page's tree size (POST).
// Nothing is written: the evaluation reads what the API serves.
func (p *Pages) verify(rq *request) error {
	q := rq.r.URL.Query()
	name, version := record.NormalizeName(q.Get("package")), q.Get("version")
	if record.ValidateName(name) != nil || record.ValidateVersion(version) != nil {
		return badRequest("The policy form needs a release: package= and version=.")
	}
	if err := rq.needEntries(); err != nil {
		return err
	}
	rel, pk, err := p.reg.ReleaseAt(rq.ctx(), name, version, rq.size)
	if err != nil {
		return err
	}
	if rel == nil {
		return notFound("There is no release %s@%s at tree size %d.", name, version, rq.size)
	}
	d := &verifyData{base: rq.base("Verify "+name+"@"+version, "packages"), R: vouch.ReleaseView(rq.ctx(), p.reg, rel, pk, false)}
	d.Action = d.U("/verify?" + url.Values{"package": {name}, "version": {version}}.Encode())
	d.Policy = strings.TrimLeft(policy.Default, "\n")
	d.Command = fmt.Sprintf("vouch verify %s@%s --policy policy.yaml --at %d", name, version, rq.size)
	d.API = []link{{"release", rq.apiURL("/api/v1/packages/"+url.PathEscape(name)+"/versions/"+url.PathEscape(version), nil)}}
	status := http.StatusOK
	if rq.r.Method == http.MethodPost {
		status, err = p.evaluate(rq, d, name, version)
		if err != nil {
			return err
		}
	}
	rq.render(status, "verify", d)
	return nil
}

// evaluate parses the posted policy and evaluates it under the CEL budget
// of one request.
func (p *Pages) evaluate(rq *request, d *verifyData, name, version string) (int, error) {
	rq.r.Body = http.MaxBytesReader(rq.w, rq.r.Body, maxForm)
	if err := rq.r.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			d.Error = fmt.Sprintf("The form is larger than %d bytes; a policy may be at most %d bytes.", maxForm, MaxPolicySize)
			return http.StatusRequestEntityTooLarge, nil
		}
		d.Error = "The form could not be read: " + err.Error()
		return http.StatusBadRequest, nil
	}
	src := strings.ReplaceAll(rq.r.PostForm.Get("policy"), "\r\n", "\n")
	d.Policy = src
	if len(src) > MaxPolicySize {
		d.Error = fmt.Sprintf("The policy is %d bytes; at most %d are evaluated here.", len(src), MaxPolicySize)
		return http.StatusRequestEntityTooLarge, nil
	}
	pol, err := policy.Parse([]byte(src))
	if err != nil {
		d.Error = err.Error()
		return http.StatusUnprocessableEntity, nil
	}
	ev, err := rq.evidence(name, version)
	if err != nil {
		var tooMany *tooMuchEvidence
		if errors.As(err, &tooMany) {
			d.Error = err.Error()
			return http.StatusUnprocessableEntity, nil
		}
		return 0, err
	}
	d.Records, d.Statements = len(ev.Records), len(ev.Attestations)
	v, err := pol.EvaluateContext(rq.ctx(), &policy.Input{Evidence: ev}, policy.NewBudget(policy.ServerBudget))
	var be *policy.BudgetError
	switch {
	case errors.As(err, &be):
		d.Stopped = be.Error()
	case err != nil:
		return 0, err
	}
	d.Verdict = v
	return http.StatusOK, nil
}

type tooMuchEvidence struct{ n int }

func (e *tooMuchEvidence) Error() string {
	return fmt.Sprintf("More than %d statements are about this release's content: too many to evaluate here. Run vouch verify on your machine.", e.n)
}

// evidence gathers what vouch verify gathers (client.Gather), from the
// registry's own reads at the page's tree size rather than over the
// network: the release as the API shows it, each record of its history
// with its signatures checked against the signers' registered keys, and
// each statement about its content with its digest and signatures
// checked. Inclusion proofs are not checked: the reads are the registry's
// own, and the page says so.
func (rq *request) evidence(name, version string) (*client.Evidence, error) {
	ctx, reg := rq.ctx(), rq.p.reg
	rel, pk, err := reg.ReleaseAt(ctx, name, version, rq.size)
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return nil, notFound("There is no release %s@%s at tree size %d.", name, version, rq.size)
	}
	cp := rq.cp
	rr := &api.ReleaseResponse{Release: vouch.ReleaseView(ctx, reg, rel, pk, true), TreeSize: rq.size,
		Checkpoint: &api.Checkpoint{Origin: cp.Origin, Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Hash[:]), Time: cp.Time, Note: string(cp.Note)}}
	ev := &client.Evidence{Checkpoint: cp, Release: rr, Owners: pk.Owners}
	known := map[string]*keys.PublicKey{}
	lookup := func(id string) (*keys.PublicKey, error) {
		if k, ok := known[id]; ok {
			return k, nil
		}
		ident, err := reg.IdentityState(ctx, id, rq.size)
		if err != nil || ident == nil {
			return nil, err
		}
		k, err := keys.ParsePublicBase64(ident.PublicKey)
		if err != nil {
			return nil, err
		}
		if k.ID() != id {
			return nil, fmt.Errorf("identity %s has a key with ID %s", id, k.ID())
		}
		known[id] = k
		return k, nil
	}
	for _, h := range rr.History {
		le, err := reg.Entry(ctx, h.Index, rq.size)
		if err != nil {
			return nil, fmt.Errorf("history entry %d: %w", h.Index, err)
		}
		e, err := record.ParseLeaf(le.Leaf)
		if err != nil || e.Record == nil {
			return nil, fmt.Errorf("history entry %d is not a record", h.Index)
		}
		if e.Record.Package != name || e.Record.Version != version || e.Record.Type != h.Action {
			return nil, fmt.Errorf("history entry %d is a %s of %s@%s, not a %s of %s@%s",
				h.Index, e.Record.Type, e.Record.Package, e.Record.Version, h.Action, name, version)
		}
		if err := e.Verify(lookup); err != nil {
			return nil, fmt.Errorf("history entry %d: %w", h.Index, err)
		}
		ev.Records = append(ev.Records, client.EvidenceRecord{Index: h.Index, Type: h.Action, Role: h.Role, Signers: e.Signers()})
	}
	if rr.Digest == "" {
		return ev, nil
	}
	var after *uint64
	for {
		items, next, err := rq.query(vouch.Filter{Subject: rr.Digest, Kind: string(record.KindAttestation)}, 100, after, false, false)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if len(ev.Attestations) == maxEvidence {
				return nil, &tooMuchEvidence{maxEvidence}
			}
			e, erased, err := reg.AttestationAt(ctx, it.Index)
			if err != nil {
				return nil, fmt.Errorf("attestation %d: %w", it.Index, err)
			}
			a := e.Attestation
			out := &client.Attestation{Index: it.Index, Time: it.Time, PredicateType: a.PredicateType, Subjects: a.Subjects,
				Signers: a.Signers(), Erased: erased}
			if !erased {
				if err := e.Verify(lookup); err != nil {
					return nil, fmt.Errorf("attestation %d: %w", it.Index, err)
				}
				out.Statement, out.Predicate, out.Verified = e.Payload, e.Statement.Predicate(), true
			}
			ev.Attestations = append(ev.Attestations, out)
		}
		if next == nil {
			return ev, nil
		}
		after = next
	}
}
