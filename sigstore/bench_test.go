package sigstore_test

import (
	"testing"

	"github.com/vouchdev/vouch/internal/sigstoretest"
	"github.com/vouchdev/vouch/sigstore"
)

// BenchmarkVerifyKeyless measures what the registry does with a keyless
// bundle before it is sequenced: parse it, find the root that issued its
// certificate, check its signature, then sigstore-go's full verification
// (transparency log entry with inclusion proof and promise, RFC 3161
// timestamp, certificate chain at each observed time).
func BenchmarkVerifyKeyless(b *testing.B) {
	v := sigstoretest.New(b)
	roots := sigstore.NewRoots(mustRootB(b, v.TrustedRoot(sigstoretest.RootOptions{})))
	id := sigstoretest.GitHubWorkflow("acme/widget", ".github/workflows/release.yml", "refs/tags/v1.0.0")
	for _, c := range []struct {
		name string
		doc  []byte
	}{
		{"dsse", v.DSSE(id, sigstoretest.Statement("https://slsa.dev/provenance/v1", map[string]any{}, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"), sigstoretest.Options{})},
		{"message-signature", v.MessageSignature(id, []byte("widget 1.0.0"), sigstoretest.Options{})},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, err := sigstore.Parse(c.doc)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := roots.Verify(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustRootB(b *testing.B, doc []byte) *sigstore.Root {
	r, err := sigstore.NewRoot("virtual", doc)
	if err != nil {
		b.Fatal(err)
	}
	return r
}
