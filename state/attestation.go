package state

import "github.com/vouchdev/vouch/record"

func applyAttestation(v View, e *record.Entry, env Env) (*Changes, error) {
	return nil, refuse(CodeMalformed, "attestations are not supported yet")
}
