// Package predicate knows the attestation predicate types Vouch gives typed
// fields in queries and policies: SLSA provenance v1 and Vouch's own
// approval, certification and distribution-rights predicates. Any other
// predicate type is accepted and stored as is.
//
// The formats are documented in docs/attestations.md.
package predicate

import (
	"fmt"
	"slices"
	"time"
)

// Predicate type URIs.
const (
	SLSAProvenanceV1   = "https://slsa.dev/provenance/v1"
	Approval           = "https://vouch.dev/attestations/approval/v1"
	Certification      = "https://vouch.dev/attestations/certification/v1"
	DistributionRights = "https://vouch.dev/attestations/distribution-rights/v1"
)

// Decisions of an approval.
var Decisions = []string{"approved", "rejected"}

// Known reports whether Vouch has typed fields for a predicate type.
func Known(ptype string) bool {
	switch ptype {
	case SLSAProvenanceV1, Approval, Certification, DistributionRights:
		return true
	}
	return false
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

func strList(m map[string]any, key string) ([]string, bool) {
	raw, ok := m[key]
	if !ok {
		return nil, true
	}
	l, ok := raw.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, v := range l {
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// Validate checks the predicate of a type Vouch knows; other types pass.
func Validate(ptype string, p map[string]any) error {
	switch ptype {
	case SLSAProvenanceV1:
		if str(p, "buildDefinition", "buildType") == "" {
			return fmt.Errorf("SLSA provenance: buildDefinition.buildType is required")
		}
		if str(p, "runDetails", "builder", "id") == "" {
			return fmt.Errorf("SLSA provenance: runDetails.builder.id is required")
		}
	case Approval:
		if d := str(p, "decision"); !slices.Contains(Decisions, d) {
			return fmt.Errorf("approval: decision must be one of %v", Decisions)
		}
		if str(p, "scope") == "" {
			return fmt.Errorf("approval: scope is required (e.g. \"qa\", \"regulated-use\")")
		}
	case Certification:
		if str(p, "program") == "" {
			return fmt.Errorf("certification: program is required (e.g. \"FIPS 140-3\")")
		}
		if str(p, "certificate") == "" {
			return fmt.Errorf("certification: certificate is required")
		}
		if v := str(p, "validUntil"); v != "" {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				return fmt.Errorf("certification: validUntil must be an RFC 3339 time")
			}
		}
	case DistributionRights:
		if str(p, "license") == "" {
			return fmt.Errorf("distribution-rights: license is required (an SPDX expression)")
		}
		if _, ok := strList(p, "territories"); !ok {
			return fmt.Errorf("distribution-rights: territories must be a list of strings")
		}
		if v := str(p, "expires"); v != "" {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				return fmt.Errorf("distribution-rights: expires must be an RFC 3339 time")
			}
		}
	}
	return nil
}

// Fields returns the typed fields of a known predicate, for queries and
// policies; nil for other types.
func Fields(ptype string, p map[string]any) map[string]any {
	switch ptype {
	case SLSAProvenanceV1:
		return map[string]any{
			"builder":      str(p, "runDetails", "builder", "id"),
			"buildType":    str(p, "buildDefinition", "buildType"),
			"invocationId": str(p, "runDetails", "metadata", "invocationId"),
		}
	case Approval:
		return map[string]any{"decision": str(p, "decision"), "scope": str(p, "scope")}
	case Certification:
		return map[string]any{"program": str(p, "program"), "certificate": str(p, "certificate"),
			"level": str(p, "level"), "validUntil": str(p, "validUntil")}
	case DistributionRights:
		t, _ := strList(p, "territories")
		if t == nil {
			t = []string{}
		}
		return map[string]any{"license": str(p, "license"), "territories": t, "expires": str(p, "expires")}
	}
	return nil
}
