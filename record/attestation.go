package record

// AttestationRef is what the log holds about an attestation: everything
// public and verifiable, but not the statement itself, which lives in the
// blob store where it can be erased.
type AttestationRef struct {
	PayloadType   string         `json:"payloadType"`
	PayloadDigest string         `json:"payloadDigest"`
	PayloadSize   int64          `json:"payloadSize"`
	PredicateType string         `json:"predicateType"`
	Subjects      []string       `json:"subjects"`
	Signatures    []AttestSigRef `json:"signatures"`
}

// AttestSigRef is one signature of an attestation envelope, with the Vouch
// key ID of the key that verified it.
type AttestSigRef struct {
	KeyID  string `json:"keyid"`
	Sig    string `json:"sig"`
	Signer string `json:"signer"`
}

// Validate checks an attestation reference read from a leaf.
func (a *AttestationRef) Validate() error {
	if a.PayloadType == "" {
		return syntaxf("attestation: payloadType is required")
	}
	if err := ValidateDigest(a.PayloadDigest); err != nil {
		return syntaxf("attestation: payloadDigest: %v", err)
	}
	if len(a.Signatures) == 0 {
		return syntaxf("attestation: no signatures")
	}
	return nil
}
