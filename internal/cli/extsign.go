package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/spf13/cobra"

	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/keys"
	"github.com/vouchdev/vouch/record"
)

// externalSigning registers a key held elsewhere (a KMS, an HSM): print the
// bytes to sign, then submit the signature.
type externalSigning struct {
	publicKey, input, signature string
	print                       bool
}

func (x *externalSigning) run(cmd *cobra.Command, g *globals) error {
	if len(g.keyFiles) > 0 {
		return errors.New("--key signs here; --public-key, --print-signing-input, --signing-input and --signature are for a key held elsewhere")
	}
	if x.publicKey == "" {
		return errors.New("--public-key FILE is required: the public key of the key held elsewhere")
	}
	pub, err := loadPublic(x.publicKey, "--public-key")
	if err != nil {
		return err
	}
	switch {
	case x.print && x.input == "" && x.signature == "":
		rec := &record.Record{Type: record.TypeIdentity, PublicKey: pub.Base64(), Time: now()}
		payload, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		_, err = g.out.Write(dsse.PAE(record.PayloadType, payload))
		return err
	case !x.print && x.input != "" && x.signature != "":
	default:
		return errors.New("either --print-signing-input, or --signing-input FILE with --signature FILE")
	}
	pae, err := os.ReadFile(x.input)
	if err != nil {
		return err
	}
	payload, err := identityPayload(pae)
	if err != nil {
		return fmt.Errorf("%s: %w", x.input, err)
	}
	rec, err := record.Parse(payload)
	if err != nil {
		return fmt.Errorf("%s: %w", x.input, err)
	}
	if rec.Type != record.TypeIdentity || rec.PublicKey != pub.Base64() {
		return fmt.Errorf("%s is not the signing input of %s's identity record (make it with --print-signing-input)", x.input, x.publicKey)
	}
	sig, err := readSignature(x.signature)
	if err != nil {
		return err
	}
	if !pub.Verify(pae, sig) {
		return fmt.Errorf("%s does not verify with %s over %s (Ed25519 signs the bytes; ECDSA P-256 signs their SHA-256, ASN.1 DER)", x.signature, x.publicKey, x.input)
	}
	env := &dsse.Envelope{PayloadType: record.PayloadType, Payload: base64.StdEncoding.EncodeToString(payload),
		Signatures: []dsse.Signature{{KeyID: pub.ID(), Sig: base64.StdEncoding.EncodeToString(sig)}}}
	c, err := g.client()
	if err != nil {
		return err
	}
	rc, err := c.Submit(cmd.Context(), &client.Submission{Envelope: env}, true)
	if err != nil {
		return err
	}
	rj := toReceiptJSON(rc)
	rj.KeyID = pub.ID()
	return g.print(rj, func(w io.Writer) {
		fmt.Fprintf(w, "registered %s at log index %d (proven in checkpoint of size %d)\n", pub.ID(), rc.Index, rj.TreeSize)
	})
}

// identityPayload returns the record payload of a DSSE pre-authentication
// encoding of a registry record, checking that it is exactly that.
func identityPayload(pae []byte) ([]byte, error) {
	prefix := []byte("DSSEv1 " + strconv.Itoa(len(record.PayloadType)) + " " + record.PayloadType + " ")
	rest, ok := bytes.CutPrefix(pae, prefix)
	if !ok {
		return nil, errors.New("not a signing input made by --print-signing-input")
	}
	n, payload, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return nil, errors.New("not a signing input made by --print-signing-input")
	}
	if l, err := strconv.Atoi(string(n)); err != nil || l != len(payload) || !bytes.Equal(dsse.PAE(record.PayloadType, payload), pae) {
		return nil, errors.New("the signing input is truncated or altered")
	}
	return payload, nil
}

// readSignature reads a signature file: raw bytes, or base64 text.
func readSignature(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if d, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b))); err == nil && len(d) > 0 {
		return d, nil
	}
	return b, nil
}

// loadPublic reads a public key given to flag: PEM, an OpenSSH public key
// line, or a private key file's public half; other files get an error
// naming what they are.
func loadPublic(path, flag string) (*keys.PublicKey, error) {
	p, err := keys.LoadPublic(path)
	if err == nil {
		return p, nil
	}
	if b, rerr := os.ReadFile(path); rerr == nil {
		if k := sniffFile(b); k != kindPublicKey && k != kindSSHPublicKey && k != kindPrivateKey && k != kindSSHKey && k != kindCosignKey {
			return nil, kindError(path, flag, k, kindPublicKey)
		}
	}
	return nil, err
}
