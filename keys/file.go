package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vouchdev/vouch/internal/atomicfile"
)

// WriteFiles writes k to path (PEM PKCS#8, mode 0600) and its public half to
// path+".pub" (PEM PKIX, mode 0644). It refuses to overwrite an existing file.
func WriteFiles(path string, k *PrivateKey) error {
	priv, err := k.PEM()
	if err != nil {
		return err
	}
	for _, p := range []string{path, path + ".pub"} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite a key", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	if err := atomicfile.Create(path, priv, 0o600); err != nil {
		return err
	}
	return atomicfile.Create(path+".pub", k.Public().PEM(), 0o644)
}

// LoadPrivate reads a PEM PKCS#8 private key file.
func LoadPrivate(path string) (*PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivatePEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return k, nil
}

// LoadPublic reads a public key file: PEM PKIX (cosign's .pub too), an
// OpenSSH public key line, or a private key file whose public half is used
// (an encrypted one only with COSIGN_PASSWORD set).
func LoadPublic(path string) (*PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if p, err := ParsePublicPEM(b); err == nil {
		return p, nil
	}
	if p, err := ParseSSHPublic(b); err == nil {
		return p, nil
	}
	k, err := ParsePrivate(b, PasswordFrom(""))
	if err != nil {
		return nil, fmt.Errorf("%s: neither a public key nor a private key Vouch reads: %v", path, err)
	}
	return k.Public(), nil
}
