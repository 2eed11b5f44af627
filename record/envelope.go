package record

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/vouchdev/vouch/keys"
)

// MaxSignatures is the most signatures an envelope may carry.
const MaxSignatures = 16

// maxKeyIDLen bounds the keyid label of a signature.
const maxKeyIDLen = 256

// ParseEnvelope decodes a DSSE envelope strictly and returns it in canonical
// form (standard base64 everywhere) together with its decoded payload.
func ParseEnvelope(b []byte) (*dsse.Envelope, []byte, error) {
	var env dsse.Envelope
	if err := unmarshalStrict(b, &env); err != nil {
		return nil, nil, syntaxf("envelope: %v", err)
	}
	return CanonicalEnvelope(&env)
}

// CanonicalEnvelope checks an envelope's fields and re-encodes its payload and
// signatures in standard base64. It returns the canonical envelope and the
// decoded payload.
func CanonicalEnvelope(env *dsse.Envelope) (*dsse.Envelope, []byte, error) {
	if env.PayloadType == "" {
		return nil, nil, syntaxf("envelope: payloadType is required")
	}
	if len(env.PayloadType) > 256 {
		return nil, nil, syntaxf("envelope: payloadType is too long")
	}
	// A payload in standard base64 already is kept as it is; one in
	// another encoding is re-encoded.
	canonical := env.Payload
	payload, err := base64.StdEncoding.Strict().DecodeString(env.Payload)
	if err != nil {
		if payload, err = env.DecodeB64Payload(); err != nil {
			return nil, nil, syntaxf("envelope: payload is not base64")
		}
		canonical = base64.StdEncoding.EncodeToString(payload)
	}
	if len(env.Signatures) == 0 {
		return nil, nil, syntaxf("envelope: no signatures")
	}
	if len(env.Signatures) > MaxSignatures {
		return nil, nil, syntaxf("envelope: %d signatures; the limit is %d", len(env.Signatures), MaxSignatures)
	}
	out := &dsse.Envelope{
		PayloadType: env.PayloadType,
		Payload:     canonical,
		Signatures:  make([]dsse.Signature, len(env.Signatures)),
	}
	for i, s := range env.Signatures {
		if len(s.KeyID) > maxKeyIDLen {
			return nil, nil, syntaxf("envelope: signature %d: keyid is too long", i+1)
		}
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			sig, err = base64.URLEncoding.DecodeString(s.Sig)
		}
		if err != nil || len(sig) == 0 || len(sig) > 1024 {
			return nil, nil, syntaxf("envelope: signature %d is not a base64 signature", i+1)
		}
		out.Signatures[i] = dsse.Signature{KeyID: s.KeyID, Sig: base64.StdEncoding.EncodeToString(sig)}
	}
	return out, payload, nil
}

// UnknownKeyError reports a signature by a key the registry does not know.
type UnknownKeyError struct{ KeyID string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("signature by unknown key %s (register it with an identity record first)", e.KeyID)
}

// SignatureError reports a signature that does not verify.
type SignatureError struct {
	Index int
	KeyID string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("signature %d (key %s) does not verify", e.Index+1, e.KeyID)
}

// VerifySignature checks signature i of env against key p with the DSSE
// library's verifier.
func VerifySignature(env *dsse.Envelope, i int, p *keys.PublicKey) error {
	one := &dsse.Envelope{PayloadType: env.PayloadType, Payload: env.Payload, Signatures: env.Signatures[i : i+1]}
	v, err := dsse.NewEnvelopeVerifier(p.DSSEVerifier(env.Signatures[i].KeyID))
	if err != nil {
		return err
	}
	if _, err := v.Verify(context.Background(), one); err != nil {
		return &SignatureError{Index: i, KeyID: p.ID()}
	}
	return nil
}

// Sign builds a DSSE envelope over payload signed by every key in signers.
func Sign(payloadType string, payload []byte, signers ...*keys.PrivateKey) (*dsse.Envelope, error) {
	var ss []dsse.Signer
	for _, k := range signers {
		ss = append(ss, k.DSSESigner())
	}
	es, err := dsse.NewEnvelopeSigner(ss...)
	if err != nil {
		return nil, err
	}
	return es.SignPayload(context.Background(), payloadType, payload)
}

// SignRecord marshals r and signs it as a registry record.
func SignRecord(r *Record, signers ...*keys.PrivateKey) (*dsse.Envelope, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return Sign(PayloadType, payload, signers...)
}
