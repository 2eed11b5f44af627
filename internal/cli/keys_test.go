package cli

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/crypto/ssh"

	"github.com/vouchdev/vouch/internal/sigstoretest"
	"github.com/vouchdev/vouch/internal/testreg"
)

// TestKeysOtherToolsMake registers a cosign encrypted key (made with the
// libraries cosign uses), an OpenSSH key and a key held elsewhere (signing
// the printed input), and signs attestations with the first two.
func TestKeysOtherToolsMake(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	home, dir := t.TempDir(), t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	alice := filepath.Join(dir, "alice.key")
	mustRun(t, env, home, "key", "generate", "--out", alice)
	mustRun(t, env, home, "identity", "register", "--key", alice)
	mustRun(t, env, home, "package", "create", "acme/widget", "--key", alice)
	art := write("widget.tgz", []byte("widget 1.0.0"))
	mustRun(t, env, home, "publish", "acme/widget@1.0.0", art, "--key", alice)
	pred := write("qa.json", []byte(`{"decision": "approved", "scope": "qa"}`))

	// cosign generate-key-pair's format: sigstore/sigstore's cryptoutils
	// encrypting with go-securesystemslib.
	priv, pub, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), func(bool) ([]byte, error) { return []byte("correct horse"), nil })
	if err != nil {
		t.Fatal(err)
	}
	cosignKey, cosignPub := write("cosign.key", priv), write("cosign.pub", pub)
	if _, err := run(t, env, home, "identity", "register", "--key", cosignKey); err == nil || !strings.Contains(err.Error(), "COSIGN_PASSWORD") {
		t.Fatalf("cosign key without a password: %v", err)
	}
	if _, err := run(t, env, home, "identity", "register", "--key", cosignKey, "--password-file", write("wrong.pass", []byte("nope\n"))); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("cosign key with a wrong password: %v", err)
	}
	out := mustRun(t, env, home, "identity", "register", "--key", cosignKey, "--password-file", write("cosign.pass", []byte("correct horse\n")))
	cosignID := strings.TrimSpace(mustRun(t, env, home, "key", "id", cosignPub))
	if !strings.Contains(out, cosignID) {
		t.Fatalf("registered %s, want %s", out, cosignID)
	}
	t.Setenv("COSIGN_PASSWORD", "correct horse")
	mustRun(t, env, home, "attest", "acme/widget@1.0.0", "--predicate-type", "https://vouch.dev/attestations/approval/v1", "--predicate", pred, "--key", cosignKey)

	// ssh-keygen -t ed25519 and -t ecdsa (P-256).
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, k := range map[string]any{"id_ed25519": edKey, "id_ecdsa": ecKey} {
		blk, err := ssh.MarshalPrivateKey(k, "dev@example.com")
		if err != nil {
			t.Fatal(err)
		}
		f := write(name, pem.EncodeToMemory(blk))
		spub, _ := ssh.NewPublicKey(k.(crypto.Signer).Public())
		pubLine := write(name+".pub", ssh.MarshalAuthorizedKey(spub))
		mustRun(t, env, home, "identity", "register", "--key", f)
		id := strings.TrimSpace(mustRun(t, env, home, "key", "id", pubLine))
		mustRun(t, env, home, "attest", "acme/widget@1.0.0", "--predicate-type", "https://vouch.dev/attestations/approval/v1", "--predicate", pred, "--key", f)
		out := mustRun(t, env, home, "query", "--signer", id)
		if !strings.Contains(out, "attest approval") {
			t.Fatalf("%s's attestation:\n%s", name, out)
		}
	}

	// A key held elsewhere: print the input, sign it there, submit.
	kms, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&kms.PublicKey)
	kmsPub := write("kms.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	input := mustRun(t, env, home, "identity", "register", "--public-key", kmsPub, "--print-signing-input")
	inFile := write("to-sign.bin", []byte(input))
	h := sha256.Sum256([]byte(input))
	sig, _ := ecdsa.SignASN1(rand.Reader, kms, h[:])
	other, _ := ecdsa.SignASN1(rand.Reader, ecKey, h[:])
	if _, err := run(t, env, home, "identity", "register", "--public-key", kmsPub, "--signing-input", inFile, "--signature", write("bad.sig", other)); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a signature by another key: %v", err)
	}
	tampered := write("tampered.bin", []byte(strings.Replace(input, `"time":"`, `"time":"1`, 1)))
	if _, err := run(t, env, home, "identity", "register", "--public-key", kmsPub, "--signing-input", tampered, "--signature", write("kms.sig", sig)); err == nil {
		t.Fatal("an altered signing input was accepted")
	}
	out = mustRun(t, env, home, "identity", "register", "--public-key", kmsPub, "--signing-input", inFile, "--signature", write("kms.sig.b64", []byte(base64.StdEncoding.EncodeToString(sig)+"\n")))
	if !strings.Contains(out, "registered sha256:") {
		t.Fatalf("external registration: %s", out)
	}
}

// TestFilesOfTheWrongKind gives files of one kind where another is
// expected: each error says what the file is and which flag takes it.
func TestFilesOfTheWrongKind(t *testing.T) {
	env := testreg.Start(t, testreg.Options{})
	home, dir := t.TempDir(), t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	alice := filepath.Join(dir, "alice.key")
	mustRun(t, env, home, "key", "generate", "--out", alice)
	v := sigstoretest.New(t)
	bundle := write("widget.sigstore.json", v.DSSE(sigstoretest.Email("https://accounts.example.com", "dev@example.com"),
		sigstoretest.Statement("https://slsa.dev/provenance/v1", map[string]any{}, "sha256:"+strings.Repeat("a", 64)), sigstoretest.Options{}))
	root := write("trusted_root.json", v.TrustedRoot(sigstoretest.RootOptions{}))
	stmt := write("statement.json", sigstoretest.Statement("https://example.com/p/v1", map[string]any{}, "sha256:"+strings.Repeat("a", 64)))
	env2 := write("envelope.json", []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AA=="}]}`))
	for _, c := range []struct {
		args []string
		says []string
	}{
		{[]string{"identity", "register", "--key", bundle}, []string{"is a Sigstore bundle", "--key", "vouch attest --bundle"}},
		{[]string{"identity", "register", "--key", alice + ".pub"}, []string{"is a public key", "--key"}},
		{[]string{"attest", "--envelope", bundle}, []string{"is a Sigstore bundle", "vouch attest --bundle"}},
		{[]string{"attest", "--bundle", env2}, []string{"is a DSSE envelope", "vouch attest --envelope"}},
		{[]string{"attest", "--bundle", stmt}, []string{"unsigned in-toto statement", "sign it first"}},
		{[]string{"attest", "--bundle", root}, []string{"Sigstore trusted root", "--sigstore-trusted-root"}},
		{[]string{"attest", "acme/widget@1.0.0", "--predicate-type", "https://example.com/p/v1", "--predicate", stmt, "--key", alice}, []string{"unsigned in-toto statement", "--predicate"}},
		{[]string{"verify", "acme/widget@1.0.0", "--sigstore-trusted-root", bundle}, []string{"is a Sigstore bundle", "--sigstore-trusted-root"}},
		{[]string{"verify", "acme/widget@1.0.0", "--policy", bundle}, []string{"is a Sigstore bundle", "--policy"}},
		{[]string{"identity", "register", "--public-key", bundle, "--print-signing-input"}, []string{"is a Sigstore bundle", "--public-key"}},
	} {
		_, err := run(t, env, home, c.args...)
		for _, s := range c.says {
			if err == nil || !strings.Contains(err.Error(), s) {
				t.Errorf("vouch %s: %v, want it to say %q", strings.Join(c.args, " "), err, s)
				break
			}
		}
	}
}
