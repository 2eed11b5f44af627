package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateSignVerify(t *testing.T) {
	for _, typ := range []Type{Ed25519, ECDSAP256} {
		t.Run(string(typ), func(t *testing.T) {
			k, err := Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			if k.Public().Type() != typ {
				t.Fatalf("type = %s", k.Public().Type())
			}
			if !ValidID(k.ID()) || k.ID() != ID(k.Public().DER()) {
				t.Fatalf("bad key ID %q", k.ID())
			}
			msg := []byte("I vouch for this")
			sig, err := k.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !k.Public().Verify(msg, sig) {
				t.Fatal("signature does not verify")
			}
			if k.Public().Verify([]byte("I vouch for that"), sig) {
				t.Fatal("signature verifies over another message")
			}
			other, _ := Generate(typ)
			if other.Public().Verify(msg, sig) {
				t.Fatal("signature verifies under another key")
			}
			bad := append([]byte(nil), sig...)
			bad[len(bad)/2] ^= 1
			if k.Public().Verify(msg, bad) {
				t.Fatal("corrupted signature verifies")
			}
		})
	}
}

func TestPEMRoundTripAndFiles(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range []Type{Ed25519, ECDSAP256} {
		k, _ := Generate(typ)
		path := filepath.Join(dir, string(typ)+".key")
		if err := WriteFiles(path, k); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("private key mode = %v, %v", st.Mode().Perm(), err)
		}
		b, _ := os.ReadFile(path)
		if !strings.Contains(string(b), "BEGIN PRIVATE KEY") {
			t.Fatalf("private key is not PKCS#8 PEM:\n%s", b)
		}
		k2, err := LoadPrivate(path)
		if err != nil || k2.ID() != k.ID() {
			t.Fatalf("reloaded key %v, %v", k2, err)
		}
		p, err := LoadPublic(path + ".pub")
		if err != nil || p.ID() != k.ID() {
			t.Fatalf("public key %v, %v", p, err)
		}
		if err := WriteFiles(path, k); err == nil {
			t.Fatal("WriteFiles overwrote an existing key")
		}
		p2, err := ParsePublicBase64(k.Public().Base64())
		if err != nil || p2.ID() != k.ID() {
			t.Fatal("base64 round trip failed")
		}
	}
}

func TestRejectsOtherKeyTypes(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if _, err := ParsePublicDER(der); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Fatalf("RSA key: %v", err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ = x509.MarshalPKIXPublicKey(&ek.PublicKey)
	if _, err := ParsePublicDER(der); err == nil || !strings.Contains(err.Error(), "P-256") {
		t.Fatalf("P-384 key: %v", err)
	}
	if _, err := ParsePublicBase64("not base64!"); err == nil {
		t.Fatal("accepted garbage")
	}
	if _, err := ParseType("rsa"); err == nil {
		t.Fatal("accepted key type rsa")
	}
	for _, bad := range []string{"", "sha256:", "sha256:" + strings.Repeat("A", 64), "sha1:" + strings.Repeat("a", 64)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
