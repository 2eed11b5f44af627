package state

import (
	"slices"
)

// applyContinue applies a continue record (the operator chain's checks
// done): the log it sits in continues the log whose last checkpoint it
// names. That checkpoint must describe a prefix of this log that is already
// there (its size at most the record's own index), and each log is
// continued once. Whether the prefix's root matches is for those who hold
// the tree to check (clients, with a consistency proof).
func (a *applier) applyContinue(o *Operators) error {
	cp, err := a.r.ContinuedCheckpoint()
	if err != nil {
		return refuse(CodeMalformed, "%v", err)
	}
	if cp.Size > a.env.Index {
		return refuse(CodeConflict, "the continued checkpoint of %s has size %d, beyond this record's index %d: it is not a prefix of this log",
			cp.Origin, cp.Size, a.env.Index)
	}
	if slices.Contains(o.Continued, cp.Origin) {
		return refuse(CodeConflict, "this log already continues %s", cp.Origin)
	}
	o.Continued = append(slices.Clone(o.Continued), cp.Origin)
	return nil
}
