package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/crypto/ssh"
)

func pw(s string) Password { return func() ([]byte, error) { return []byte(s), nil } }

// TestCosignKeys reads keys in cosign's encrypted format, made with the
// libraries cosign itself uses.
func TestCosignKeys(t *testing.T) {
	// What cosign generate-key-pair writes (sigstore/sigstore's cryptoutils,
	// go-securesystemslib's encrypted).
	priv, pub, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), func(bool) ([]byte, error) { return []byte("hunter2"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(priv), CosignPEMType) {
		t.Fatalf("cosign key: %s", priv)
	}
	k, err := ParsePrivate(priv, pw("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePublicPEM(pub)
	if err != nil || p.ID() != k.ID() || k.Public().Type() != ECDSAP256 {
		t.Fatalf("cosign public key: %v", err)
	}
	sig, _ := k.Sign([]byte("msg"))
	if !p.Verify([]byte("msg"), sig) {
		t.Fatal("signature by a cosign key does not verify")
	}
	if _, err := ParsePrivate(priv, pw("wrong")); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := ParsePrivate(priv, nil); !errors.Is(err, ErrNoPassword) || !strings.Contains(err.Error(), "COSIGN_PASSWORD") {
		t.Fatalf("no password: %v", err)
	}
	// The older PEM type, and an Ed25519 key.
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ek)
	ct, err := encrypted.Encrypt(der, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	legacy := pem.EncodeToMemory(&pem.Block{Type: CosignLegacyPEMType, Bytes: ct})
	if k, err := ParsePrivate(legacy, pw("pw")); err != nil || k.Public().Type() != Ed25519 {
		t.Fatalf("legacy cosign key: %v", err)
	}
	t.Setenv("COSIGN_PASSWORD", "pw")
	if _, err := ParsePrivate(legacy, PasswordFrom("")); err != nil {
		t.Fatalf("COSIGN_PASSWORD: %v", err)
	}
}

// TestOpenSSHKeys reads ssh-keygen's private keys, plain and encrypted,
// and public key lines.
func TestOpenSSHKeys(t *testing.T) {
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, key := range map[string]any{"ed25519": ek, "ecdsa": ec} {
		blk, err := ssh.MarshalPrivateKey(key, "dev@example.com")
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParsePrivate(pem.EncodeToMemory(blk), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		enc, _ := ssh.MarshalPrivateKeyWithPassphrase(key, "", []byte("s3cret"))
		k2, err := ParsePrivate(pem.EncodeToMemory(enc), pw("s3cret"))
		if err != nil || k2.ID() != k.ID() {
			t.Fatalf("%s encrypted: %v", name, err)
		}
		if _, err := ParsePrivate(pem.EncodeToMemory(enc), nil); !errors.Is(err, ErrNoPassword) {
			t.Fatalf("%s encrypted without a password: %v", name, err)
		}
		spub, _ := ssh.NewPublicKey(k.Public().Crypto())
		line := ssh.MarshalAuthorizedKey(spub)
		p, err := ParseSSHPublic(line)
		if err != nil || p.ID() != k.ID() {
			t.Fatalf("%s public key line: %v", name, err)
		}
		if _, err := ParsePrivate(line, nil); err == nil || !strings.Contains(err.Error(), "public key") {
			t.Fatalf("%s public key given as private: %v", name, err)
		}
	}
	// Keys Vouch cannot sign with are named.
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	blk, _ := ssh.MarshalPrivateKey(ec384, "")
	if _, err := ParsePrivate(pem.EncodeToMemory(blk), nil); err == nil || !strings.Contains(err.Error(), "P-256") {
		t.Fatalf("P-384: %v", err)
	}
}
