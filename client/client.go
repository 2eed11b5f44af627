// Package client is the Go client library for Vouch registries. Every
// verification lives here, once: checkpoint signatures against the trusted
// log key, inclusion proofs for every entry it returns, and consistency
// between every checkpoint it accepts and the one it held before. The latest
// verified checkpoint of each log is kept on disk, so that a stale cache or
// a malicious server can never take the client back in time or onto a fork.
//
// Proofs are never taken from the registry's word: the client builds every
// inclusion and consistency proof itself from the log's hash tiles, and
// reads entries from its entry bundles, as served under /log/ in the C2SP
// tlog-tiles layout. The tiles may come from anywhere (Options.LogURL: the
// registry, a mirror, a CDN, a directory of static files), since what is
// built from them is checked against checkpoints signed by the trusted log
// key. Tiles are cached within a Client, so a proof costs requests only for
// the tiles no earlier proof needed.
package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/cosign"
	"github.com/vouchdev/vouch/logchain"
	"github.com/vouchdev/vouch/record"
	"github.com/vouchdev/vouch/sigstore"
	"github.com/vouchdev/vouch/translog"
	"github.com/vouchdev/vouch/tufclient"
)

// Options configures a Client.
type Options struct {
	// LogKey is the trusted verifier key of the log. Required.
	LogKey *translog.Verifier
	// Home is where verified checkpoints are kept ($VOUCH_HOME); empty
	// means DefaultHome().
	Home string
	// HTTPClient is used for requests; nil means a client with a timeout.
	HTTPClient *http.Client
	// UserAgent is sent with every request.
	UserAgent string
	// LogURL is where the log is read from: its checkpoint at
	// LogURL/log/checkpoint, and the hash tiles and entry bundles every
	// proof is built from under LogURL/log/tile/. Empty means the
	// registry's URL; a mirror or CDN of the registry's /log/ will do.
	LogURL string
	// WitnessPolicy, if set, is the witnesses whose cosignatures the
	// client requires: every checkpoint newer than the one it holds must
	// carry a quorum of them, or it is refused with the witnesses missing
	// named. Older checkpoints are proven consistent with the held one.
	WitnessPolicy *cosign.Policy
	// Trust, if set, is the registry's trust material from its TUF
	// repository (tufclient.Update): the log key unless LogKey is set, the
	// witness policy unless WitnessPolicy is set, the logs the current one
	// continues (the client carries its trust across key rotations), and
	// the operator keys the log's operator chain may name.
	Trust *tufclient.Trust
	// Sigstore are the trusted roots keyless attestations are verified
	// against (nil: they are read, but not Verified).
	Sigstore *sigstore.Roots
}

// Client talks to one registry.
type Client struct {
	base *url.URL
	// logBase is where /log/ is read from (Options.LogURL).
	logBase *url.URL
	hc      *http.Client
	log     *translog.Verifier
	trust   *TrustStore
	ua      string
	roots   *sigstore.Roots
	tiles   *tileCache
	policy  *cosign.Policy
	// links are the registry's logs, the current last (from Trust), and
	// operators the operator key IDs its TUF targets list.
	links     []logchain.Link
	operators []string
}

// DefaultHome returns $VOUCH_HOME, or ~/.config/vouch.
func DefaultHome() string {
	if h := os.Getenv("VOUCH_HOME"); h != "" {
		return h
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "vouch")
	}
	return ".vouch"
}

// New returns a client for the registry at baseURL (e.g.
// "http://127.0.0.1:8080").
func New(baseURL string, o Options) (*Client, error) {
	u, err := parseBase(baseURL)
	if err != nil {
		return nil, fmt.Errorf("registry URL %q must be http(s)://host[:port]", baseURL)
	}
	lu := u
	if o.LogURL != "" {
		if lu, err = parseBase(o.LogURL); err != nil {
			return nil, fmt.Errorf("log URL %q must be http(s)://host[:port][/path], the URL under which /log/ is served", o.LogURL)
		}
	}
	if t := o.Trust; t != nil {
		if o.LogKey == nil {
			o.LogKey = t.LogKey
		}
		if o.WitnessPolicy == nil {
			o.WitnessPolicy = t.WitnessPolicy
		}
	}
	if o.LogKey == nil {
		return nil, errors.New("no trusted log key: pass --log-key or set VOUCH_LOG_KEY to the registry's log.vkey")
	}
	if o.Home == "" {
		o.Home = DefaultHome()
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "vouch-client"
	}
	c := &Client{base: u, logBase: lu, hc: hc, log: o.LogKey, trust: NewTrustStore(o.Home), ua: ua, tiles: newTileCache(),
		policy: o.WitnessPolicy, roots: o.Sigstore}
	if t := o.Trust; t != nil && o.LogKey.Key() == t.LogKey.Key() {
		c.links = t.Links
		if t.Operators != nil {
			c.operators = t.Operators.KeyIDs()
		}
	}
	return c, nil
}

func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("not an http(s) URL")
	}
	return u, nil
}

// Origin returns the origin of the trusted log.
func (c *Client) Origin() string { return c.log.Origin() }

// Trust returns the client's store of verified checkpoints.
func (c *Client) Trust() *TrustStore { return c.trust }

// APIError is an error answer from the registry.
type APIError struct {
	Status  int
	Code    string
	Message string
	body    []byte
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("registry answered %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// IsCode reports whether err is an APIError with the given code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

func (c *Client) url(path string, q url.Values) string { return joinURL(c.base, path, q) }

// logURL returns the URL of path (starting /log/) where the log is read.
func (c *Client) logURL(path string) string { return joinURL(c.logBase, path, nil) }

func joinURL(base *url.URL, path string, q url.Values) string {
	u := *base
	u.Path = base.Path + path
	if i := strings.IndexByte(path, '%'); i >= 0 {
		u.RawPath = base.Path + path
		u.Path, _ = url.PathUnescape(u.RawPath)
	}
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends a request to the registry and returns the response body of a
// 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string) ([]byte, http.Header, error) {
	return c.doAt(ctx, c.base, method, path, q, body, ctype)
}

// doAt is do, at base: the registry's URL or the log's.
func (c *Client) doAt(ctx context.Context, base *url.URL, method, path string, q url.Values, body io.Reader, ctype string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, joinURL(base, path, q), body)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("User-Agent", c.ua)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode/100 != 2 {
		ae := apiError(resp.StatusCode, b)
		if ae.Code == "" && strings.Contains(resp.Header.Get("Content-Type"), "html") {
			ae.Message = fmt.Sprintf("%s answered %s with an HTML page: it is not a Vouch registry, or not at this URL (%s)", base, resp.Status, c.checkURL(base))
		}
		return nil, nil, ae
	}
	return b, resp.Header, nil
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	b, _, err := c.do(ctx, http.MethodGet, path, q, nil, "")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding the answer to %s: %w", path, err)
	}
	return nil
}

// Get fetches a JSON API path (relative to the registry root) into v.
func (c *Client) Get(ctx context.Context, path string, q url.Values, v any) error {
	return c.getJSON(ctx, path, q, v)
}

// checkURL says which setting names base.
func (c *Client) checkURL(base *url.URL) string {
	if base.String() == c.base.String() {
		return "check --registry or VOUCH_REGISTRY"
	}
	return "check the log URL"
}

func decodeHashes(ss []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("malformed proof hash %q", s)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

func postBody(v any) (io.Reader, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(b), nil
}

// apiError decodes an error answer.
func apiError(status int, b []byte) *APIError {
	ae := &APIError{Status: status, body: b}
	var eb api.ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		ae.Code, ae.Message = eb.Error.Code, eb.Error.Message
		return ae
	}
	ae.Message = strings.TrimSpace(string(b))
	if len(ae.Message) > 200 {
		ae.Message = ae.Message[:200]
	}
	return ae
}

// parseRecordLeaf returns the record hash of a record leaf.
func parseRecordLeaf(leaf []byte) (string, error) {
	e, err := record.ParseLeaf(leaf)
	if err != nil {
		return "", err
	}
	if e.Unwrap().Record == nil {
		return "", errors.New("entry is not a record")
	}
	return e.Hash(), nil
}
