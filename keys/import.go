package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"golang.org/x/crypto/ssh"
)

// Private key formats other tools write, besides Vouch's own PEM PKCS#8.
const (
	// CosignPEMType and CosignLegacyPEMType are cosign's encrypted private
	// keys (cosign generate-key-pair): PKCS#8 encrypted with scrypt and
	// NaCl secretbox, in go-securesystemslib's "encrypted" format.
	CosignPEMType       = "ENCRYPTED SIGSTORE PRIVATE KEY"
	CosignLegacyPEMType = "ENCRYPTED COSIGN PRIVATE KEY"
	// OpenSSHPEMType is ssh-keygen's private key format.
	OpenSSHPEMType = "OPENSSH PRIVATE KEY"
)

// Password returns the password of an encrypted key file; it is called
// only for one.
type Password func() ([]byte, error)

// ErrNoPassword is returned by a Password that has none to give.
var ErrNoPassword = errors.New("the key is encrypted and no password was given")

// ParsePrivate parses a private key file in any format Vouch reads: PEM
// PKCS#8 ("PRIVATE KEY", what vouch key generate writes), SEC 1 ("EC
// PRIVATE KEY"), cosign's encrypted keys, and OpenSSH Ed25519 and ECDSA
// P-256 keys (encrypted ones too). password is called for an encrypted
// key. A file of another kind gets an error saying what it is.
func ParsePrivate(b []byte, password Password) (*PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		if isSSHPublic(b) {
			return nil, errors.New("this is an OpenSSH public key; give the private key (the file without .pub)")
		}
		return nil, errors.New("not a private key: no PEM block found")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case CosignPEMType, CosignLegacyPEMType:
		pw, perr := getPassword(password)
		if perr != nil {
			return nil, fmt.Errorf("a cosign encrypted key: %w (pass --password-file FILE, or set COSIGN_PASSWORD)", perr)
		}
		der, derr := encrypted.Decrypt(blk.Bytes, pw)
		if derr != nil {
			return nil, fmt.Errorf("cannot decrypt the cosign key (wrong password?): %w", derr)
		}
		k, err = x509.ParsePKCS8PrivateKey(der)
	case OpenSSHPEMType:
		k, err = ssh.ParseRawPrivateKey(b)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			pw, perr := getPassword(password)
			if perr != nil {
				return nil, fmt.Errorf("an encrypted OpenSSH key: %w (pass --password-file FILE)", perr)
			}
			k, err = ssh.ParseRawPrivateKeyWithPassphrase(b, pw)
		}
	case "PUBLIC KEY":
		return nil, errors.New("this is a public key, not a private key")
	case "CERTIFICATE":
		return nil, errors.New("this is a certificate, not a private key")
	case "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY":
		return nil, fmt.Errorf("PEM block %q is not a key type Vouch reads (Ed25519 or ECDSA P-256: PKCS#8, SEC 1, cosign or OpenSSH)", blk.Type)
	default:
		return nil, fmt.Errorf("PEM block is %q, not a private key", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("not a readable %s: %v", blk.Type, err)
	}
	switch s := k.(type) {
	case *ed25519.PrivateKey: // x/crypto/ssh returns a pointer
		return newPrivate(*s)
	case ed25519.PrivateKey:
		return newPrivate(s)
	case *ecdsa.PrivateKey:
		return newPrivate(s)
	case crypto.Signer:
		return nil, fmt.Errorf("unsupported private key type %T (want Ed25519 or ECDSA P-256)", k)
	}
	return nil, fmt.Errorf("unsupported private key type %T", k)
}

func getPassword(password Password) ([]byte, error) {
	if password == nil {
		return nil, ErrNoPassword
	}
	return password()
}

// PasswordFrom returns the Password of the key files a command loads: the
// first line of file, if given, else the COSIGN_PASSWORD environment
// variable (as cosign reads it), else none.
func PasswordFrom(file string) Password {
	return func() ([]byte, error) {
		if file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			line, _, _ := strings.Cut(string(b), "\n")
			return []byte(strings.TrimSuffix(line, "\r")), nil
		}
		if pw, ok := os.LookupEnv("COSIGN_PASSWORD"); ok {
			return []byte(pw), nil
		}
		return nil, ErrNoPassword
	}
}

// LoadPrivateWith reads a private key file in any format ParsePrivate
// reads.
func LoadPrivateWith(path string, password Password) (*PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivate(b, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return k, nil
}

func isSSHPublic(b []byte) bool {
	_, _, _, _, err := ssh.ParseAuthorizedKey(b)
	return err == nil
}

// ParseSSHPublic parses an OpenSSH public key line (id_ed25519.pub).
func ParseSSHPublic(b []byte) (*PublicKey, error) {
	pk, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, err
	}
	cpk, ok := pk.(ssh.CryptoPublicKey)
	if !ok {
		return nil, fmt.Errorf("unsupported OpenSSH key type %s", pk.Type())
	}
	der, err := x509.MarshalPKIXPublicKey(cpk.CryptoPublicKey())
	if err != nil {
		return nil, err
	}
	return ParsePublicDER(der)
}
