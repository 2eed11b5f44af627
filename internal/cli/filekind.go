package cli

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/vouchdev/vouch/api"
)

// fileKind is what a file given to a flag holds.
type fileKind string

const (
	kindPrivateKey   fileKind = "a private key"
	kindCosignKey    fileKind = "a cosign encrypted private key"
	kindSSHKey       fileKind = "an OpenSSH private key"
	kindPublicKey    fileKind = "a public key"
	kindSSHPublicKey fileKind = "an OpenSSH public key"
	kindCertificate  fileKind = "a certificate"
	kindEnvelope     fileKind = fileKind(api.KindEnvelope)
	kindBundle       fileKind = fileKind(api.KindBundle)
	kindPEP740       fileKind = fileKind(api.KindPEP740)
	kindStatement    fileKind = fileKind(api.KindStatement)
	kindTrustedRoot  fileKind = fileKind(api.KindTrustedRoot)
	kindSubmission   fileKind = fileKind(api.KindSubmission)
	kindProvenance   fileKind = fileKind(api.KindProvenance)
	kindJSON         fileKind = fileKind(api.KindUnknownJSON)
	kindPolicy       fileKind = "a Vouch policy"
	kindOther        fileKind = "not a file Vouch reads"
)

// whereItGoes says which flag takes a file of each kind.
var whereItGoes = map[fileKind]string{
	kindPrivateKey:   "sign with it: --key",
	kindCosignKey:    "sign with it: --key, with its password in --password-file or COSIGN_PASSWORD",
	kindSSHKey:       "sign with it: --key",
	kindPublicKey:    "print its key ID with vouch key id, and name it with --signer or in a policy's keys",
	kindSSHPublicKey: "give the private key (without .pub) to --key",
	kindCertificate:  "certificates come inside Sigstore bundles: submit the bundle with vouch attest --bundle",
	kindEnvelope:     "submit it with vouch attest --envelope",
	kindBundle:       "submit it with vouch attest --bundle",
	kindPEP740:       "submit it with vouch attest --bundle",
	kindStatement:    "sign it first: vouch attest NAME@VERSION --predicate-type URI --predicate FILE takes the predicate alone and signs the statement",
	kindTrustedRoot:  "verify keyless bundles with it: --sigstore-trusted-root",
	kindProvenance:   "attest it: vouch attest NAME@VERSION --predicate-type https://slsa.dev/provenance/v1 --predicate FILE",
	kindPolicy:       "verify with it: vouch verify --policy",
}

// sniffFile says what a file holds.
func sniffFile(b []byte) fileKind {
	t := bytes.TrimSpace(b)
	if blk, _ := pem.Decode(t); blk != nil {
		switch blk.Type {
		case "PRIVATE KEY", "EC PRIVATE KEY":
			return kindPrivateKey
		case "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY":
			return kindCosignKey
		case "OPENSSH PRIVATE KEY":
			return kindSSHKey
		case "PUBLIC KEY":
			return kindPublicKey
		case "CERTIFICATE":
			return kindCertificate
		}
		return kindOther
	}
	if bytes.HasPrefix(t, []byte("ssh-ed25519 ")) || bytes.HasPrefix(t, []byte("ecdsa-sha2-")) || bytes.HasPrefix(t, []byte("ssh-rsa ")) {
		return kindSSHPublicKey
	}
	if len(t) > 0 && t[0] == '{' {
		switch k := api.Sniff(t); k {
		case api.KindNotJSON:
			return kindOther
		default:
			return fileKind(k)
		}
	}
	for _, l := range strings.Split(string(t), "\n") {
		if strings.HasPrefix(l, "require:") || strings.HasPrefix(l, "deny:") {
			return kindPolicy
		}
	}
	return kindOther
}

// kindError is the error for a file of one kind given where another is
// expected: it says what the file is and which flag takes it.
func kindError(path, flag string, got fileKind, want ...fileKind) error {
	ws := make([]string, len(want))
	for i, w := range want {
		ws[i] = string(w)
	}
	msg := fmt.Sprintf("%s is %s, not %s (what %s takes)", path, got, strings.Join(ws, " or "), flag)
	if hint, ok := whereItGoes[got]; ok {
		msg += "; " + hint
	}
	return fmt.Errorf("%s", msg)
}

// checkKind returns nil if b (the contents of path, given to flag) is of
// one of the wanted kinds, else an error saying what it is.
func checkKind(path, flag string, b []byte, want ...fileKind) error {
	got := sniffFile(b)
	for _, w := range want {
		if got == w {
			return nil
		}
	}
	return kindError(path, flag, got, want...)
}

// expectFile reads path and checks its kind (see checkKind).
func expectFile(path, flag string, want ...fileKind) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return checkKind(path, flag, b, want...)
}
