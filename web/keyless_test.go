package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/client"
	"github.com/vouchdev/vouch/internal/sigstoretest"
	"github.com/vouchdev/vouch/internal/testreg"
	"github.com/vouchdev/vouch/predicate"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/sigstore"
)

// TestKeylessSigners: a statement signed keyless shows its signer (the
// certificate's subject and issuer) on the release page and in timelines;
// searching for the subject leads to the signer's page; after the operator
// erases the signer, no page names it.
func TestKeylessSigners(t *testing.T) {
	ca := sigstoretest.New(t)
	root, err := sigstore.NewRoot("virtual", ca.TrustedRoot(sigstoretest.RootOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	env := testreg.Start(t, testreg.Options{Sigstore: sigstore.NewRoots(root)})
	f := &reg{t: t, env: env, c: env.Client(), ctx: context.Background()}
	owner := f.key(nil)
	const w = "acme/gadget"
	f.record(&record.Record{Type: record.TypeCreate, Package: w, Owners: []string{owner.ID()}}, "", owner)
	digest := f.publish(w, "2.0.0", "gadget 2.0.0", record.ChannelPublished, owner)
	person := sigstoretest.Email("https://accounts.example.com", "qa-lead@example.com")
	ci := sigstoretest.GitHubWorkflow("acme/gadget", ".github/workflows/release.yml", "refs/tags/v2.0.0")
	stmt := sigstoretest.Statement(predicate.Approval, map[string]any{"decision": "approved", "scope": "qa"}, digest)
	for _, doc := range [][]byte{
		ca.DSSE(person, stmt, sigstoretest.Options{}),
		ca.DSSE(ci, sigstoretest.Statement(predicate.SLSAProvenanceV1, map[string]any{
			"buildDefinition": map[string]any{"buildType": "https://example.com/build/v1", "externalParameters": map[string]any{}},
			"runDetails":      map[string]any{"builder": map[string]any{"id": "https://ci.example.com/builder"}},
		}, digest), sigstoretest.Options{}),
	} {
		if _, err := f.c.Submit(f.ctx, &client.Submission{Bundle: doc}, true); err != nil {
			t.Fatal(err)
		}
	}
	relPage := env.URL + "/packages/acme%2Fgadget/versions/2.0.0"
	st, _, body := get(t, relPage)
	if st != http.StatusOK || !strings.Contains(body, "qa-lead@example.com") || !strings.Contains(body, "(keyless, https://accounts.example.com)") ||
		!strings.Contains(body, ci.Subject) {
		t.Fatalf("release page (%d) does not name the keyless signers:\n%s", st, body)
	}
	// The search box finds the signer by subject and goes to its page.
	resp, err := http.Get(env.URL + "/search?" + url.Values{"q": {"qa-lead@example.com"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/keyless" {
		t.Fatalf("search for the subject ended at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	st, _, body = get(t, resp.Request.URL.String())
	if st != http.StatusOK || !strings.Contains(body, "Keyless signer") || !strings.Contains(body, "approval") || strings.Contains(body, ci.Subject) {
		t.Fatalf("keyless page (%d):\n%s", st, body)
	}
	// A pattern and an issuer narrow it.
	st, _, body = get(t, env.URL+"/keyless?"+url.Values{"subject": {"https://github.com/acme/*"}, "issuer": {ci.Issuer}}.Encode())
	if st != http.StatusOK || !strings.Contains(body, "a pattern") || !strings.Contains(body, ci.Subject) || strings.Contains(body, "qa-lead@") {
		t.Fatalf("keyless page by pattern (%d):\n%s", st, body)
	}
	if st, _, _ := get(t, env.URL+"/keyless"); st != http.StatusBadRequest {
		t.Fatalf("keyless page without a subject: %d", st)
	}
	// Erased, the signer is named nowhere.
	if _, err := f.c.Admin(f.ctx, &api.AdminRequest{Action: "erase", Keyless: &api.CertIdentity{Issuer: person.Issuer, Subject: person.Subject}}, env.Operator); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{relPage, env.URL + "/", env.URL + "/entries"} {
		if _, _, body := get(t, u); strings.Contains(body, "qa-lead@example.com") {
			t.Fatalf("%s still names the erased signer", u)
		}
	}
	if _, _, body := get(t, relPage); !strings.Contains(body, "a keyless signer, erased") {
		t.Fatalf("the release page does not say a signer was erased:\n%s", body)
	}
	if st, _, _ := get(t, env.URL+"/keyless?subject=qa-lead%40example.com"); st != http.StatusNotFound {
		t.Fatalf("keyless page of an erased signer: %d", st)
	}
}
