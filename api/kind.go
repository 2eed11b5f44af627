package api

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Document kinds a JSON file or body may be, as Sniff names them.
const (
	KindEnvelope     = "a DSSE envelope"
	KindBundle       = "a Sigstore bundle"
	KindPEP740       = "a PEP 740 attestation"
	KindStatement    = "an unsigned in-toto statement"
	KindTrustedRoot  = "a Sigstore trusted root"
	KindSubmission   = "a Vouch submission (an envelope with its off-log data)"
	KindProvenance   = "a SLSA provenance predicate"
	KindUnknownJSON  = "a JSON document"
	KindNotJSON      = "not JSON"
	bundleMediaType  = "application/vnd.dev.sigstore.bundle"
	trustedRootMedia = "application/vnd.dev.sigstore.trustedroot"
)

// Sniff says what kind of document a JSON file or request body is, from
// its top-level keys, without validating it: so that a document of one
// kind given where another is expected gets an error naming what it is. It
// reads at most the first 32 top-level keys, so a hostile body costs no
// more than one pass over what it reads.
func Sniff(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return KindNotJSON
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.Token() // {
	keys := map[string]bool{}
	var mt string
	for n := 0; n < 32 && d.More(); n++ {
		tok, err := d.Token()
		k, ok := tok.(string)
		if err != nil || !ok {
			break
		}
		keys[k] = true
		if k == "mediaType" || k == "media_type" {
			if d.Decode(&mt) != nil {
				break
			}
			continue
		}
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			break
		}
	}
	switch {
	case strings.HasPrefix(mt, bundleMediaType):
		return KindBundle
	case strings.HasPrefix(mt, trustedRootMedia):
		return KindTrustedRoot
	case keys["verification_material"] && keys["envelope"]:
		return KindPEP740
	case keys["payloadType"] && (keys["signatures"] || keys["payload"]):
		return KindEnvelope
	case keys["envelope"]:
		return KindSubmission
	case keys["_type"] && keys["subject"]:
		return KindStatement
	case keys["buildDefinition"] && keys["runDetails"]:
		return KindProvenance
	case len(keys) == 0:
		return KindNotJSON
	}
	return KindUnknownJSON
}

// IsBundle reports whether a body is a Sigstore bundle or a PEP 740
// attestation (by Sniff).
func IsBundle(b []byte) bool {
	k := Sniff(b)
	return k == KindBundle || k == KindPEP740
}
