package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/internal/atomicfile"
	"github.com/vouchdev/vouch/translog"
)

// At selects the point in the log a read answers for: a tree size, or a
// time; the zero value means the latest checkpoint.
type At struct {
	Size    uint64
	Time    time.Time
	Include string
	// Complete asks for the verifiable index's proof that the answer
	// leaves nothing out, and checks it: an answer that omits or changes
	// anything the index commits to is refused with an *IncompleteError.
	// The answer is then as of the first checkpoint that covers Size or
	// Time.
	Complete bool
}

func (a At) values() url.Values {
	q := url.Values{}
	if a.Size > 0 {
		q.Set("at", strconv.FormatUint(a.Size, 10))
	}
	if !a.Time.IsZero() {
		q.Set("asof", a.Time.UTC().Format(time.RFC3339Nano))
	}
	if a.Include != "" {
		q.Set("include", a.Include)
	}
	if a.Complete {
		q.Set("proof", "complete")
	}
	return q
}

// VerifyCheckpoint checks a checkpoint returned with a read: its signature,
// and its consistency with the checkpoint the client holds. A newer one
// becomes the held checkpoint; an older one (a read at an earlier tree size)
// must be a prefix of the held one.
func (c *Client) VerifyCheckpoint(ctx context.Context, note string) (*translog.Checkpoint, error) {
	cp, err := c.open([]byte(note), c.base)
	if err != nil {
		return nil, err
	}
	_, err = c.adopt(ctx, cp)
	var rb *RollbackError
	if !errors.As(err, &rb) {
		return cp, err
	}
	held, err := c.Held()
	if err != nil {
		return nil, err
	}
	p, err := c.ConsistencyProof(ctx, cp.Size, held.Size)
	if err != nil {
		return nil, err
	}
	if err := translog.VerifyConsistency(cp, held, p); err != nil {
		return nil, c.blameTiles(ctx, &ForkError{Held: held.Size, Got: cp.Size, Err: err}, held)
	}
	return cp, nil
}

// verifyAnswer verifies the checkpoint a read's answer says it is valid
// for (see VerifyCheckpoint).
func (c *Client) verifyAnswer(ctx context.Context, cp *api.Checkpoint) (*translog.Checkpoint, error) {
	if cp == nil {
		return nil, errors.New("the registry's answer carries no checkpoint")
	}
	return c.VerifyCheckpoint(ctx, cp.Note)
}

func pkgPath(name string) string { return "/api/v1/packages/" + url.PathEscape(name) }

// Package reads a package and verifies the checkpoint the answer is for. The
// package's head record is proven included in that checkpoint.
func (c *Client) Package(ctx context.Context, name string, at At) (*api.Package, *translog.Checkpoint, error) {
	var p api.Package
	if err := c.getJSON(ctx, pkgPath(name), at.values(), &p); err != nil {
		var ae *APIError
		if at.Complete && errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			// "No such package" is an answer too: the index must prove it.
			if perr := c.checkAbsentPackage(ctx, name, ae.body); perr != nil {
				return nil, nil, perr
			}
		}
		return nil, nil, err
	}
	cp, err := c.verifyAnswer(ctx, p.Checkpoint)
	if err != nil {
		return nil, nil, err
	}
	if err := c.proveRecordHash(ctx, p.HeadIndex, p.Head, cp); err != nil {
		return nil, nil, fmt.Errorf("package %s: head record: %w", name, err)
	}
	if at.Complete {
		if err := checkProof(cp, "package", name, p.Complete); err != nil {
			return nil, nil, err
		}
		if err := checkPackage(&p, at.Include, p.Complete); err != nil {
			return nil, nil, err
		}
	}
	return &p, cp, nil
}

// proveRecordHash proves that entry index is in cp and is the record with
// the given record hash.
func (c *Client) proveRecordHash(ctx context.Context, index uint64, hash string, cp *translog.Checkpoint) error {
	e, err := c.EntryIn(ctx, index, cp)
	if err != nil {
		return err
	}
	rec, err := parseRecordLeaf(e.Leaf)
	if err != nil {
		return err
	}
	if rec != hash {
		return fmt.Errorf("entry %d is record %s, not %s", index, rec, hash)
	}
	return nil
}

// Release reads one release. Deleted, tombstoned and banished releases are
// answered too (with what stays visible of them); Status says which.
func (c *Client) Release(ctx context.Context, name, version string, at At) (*api.ReleaseResponse, *translog.Checkpoint, error) {
	b, _, err := c.do(ctx, http.MethodGet, pkgPath(name)+"/versions/"+url.PathEscape(version), at.values(), nil, "")
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusGone || ae.Status == http.StatusUnavailableForLegalReasons) {
		b, err = ae.body, nil
	}
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound && at.Complete {
		// "No such release" is an answer too: the index must prove it.
		if perr := c.checkAbsentRelease(ctx, name, version, ae.body); perr != nil {
			return nil, nil, perr
		}
	}
	if err != nil {
		return nil, nil, err
	}
	var rr api.ReleaseResponse
	if err := json.Unmarshal(b, &rr); err != nil {
		return nil, nil, fmt.Errorf("decoding the release: %w", err)
	}
	cp, err := c.verifyAnswer(ctx, rr.Checkpoint)
	if err != nil {
		return nil, nil, err
	}
	if at.Complete {
		if err := checkProof(cp, "package", name, rr.Complete); err != nil {
			return nil, nil, err
		}
		if err := checkReleaseAnswer(name, version, &rr); err != nil {
			return nil, nil, err
		}
	}
	return &rr, cp, nil
}

// checkAbsentPackage checks the proof a 404 answer about a package
// carries: the index must prove it absent.
func (c *Client) checkAbsentPackage(ctx context.Context, name string, body []byte) error {
	if err := c.checkAbsentRelease(ctx, name, "", body); err != nil {
		return err
	}
	var nf struct {
		Complete *api.Completeness `json:"complete"`
	}
	json.Unmarshal(body, &nf)
	if nf.Complete != nil && nf.Complete.Present {
		return &IncompleteError{What: "package " + name, Reason: "the registry says it does not exist, but the index holds it"}
	}
	return nil
}

// checkAbsentRelease checks the proof a 404 answer about a release
// carries: the index must prove its package absent, or without it.
func (c *Client) checkAbsentRelease(ctx context.Context, name, version string, body []byte) error {
	var nf struct {
		Checkpoint *api.Checkpoint   `json:"checkpoint"`
		Complete   *api.Completeness `json:"complete"`
	}
	if err := json.Unmarshal(body, &nf); err != nil {
		return fmt.Errorf("decoding the registry's answer: %w", err)
	}
	what := name + "@" + version
	if nf.Checkpoint == nil {
		return &IncompleteError{What: what, Reason: "the registry says it does not exist, with no checkpoint or proof"}
	}
	cp, err := c.verifyAnswer(ctx, nf.Checkpoint)
	if err != nil {
		return err
	}
	if err := checkProof(cp, "package", name, nf.Complete); err != nil {
		return err
	}
	_, rels, err := provenPackage(name, nf.Complete)
	if err != nil {
		return err
	}
	for _, r := range rels {
		if r.Version == version {
			return &IncompleteError{What: what, Reason: fmt.Sprintf("the registry says it does not exist, but the index holds it (%s)", r.Status)}
		}
	}
	return nil
}

// Packages lists packages, after the given name.
func (c *Client) Packages(ctx context.Context, at At, after string, limit int) (*api.PackageList, error) {
	q := at.values()
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var pl api.PackageList
	if err := c.getJSON(ctx, "/api/v1/packages", q, &pl); err != nil {
		return nil, err
	}
	if _, err := c.verifyAnswer(ctx, pl.Checkpoint); err != nil {
		return nil, err
	}
	return &pl, nil
}

// Operators reads the operator chain's state.
func (c *Client) Operators(ctx context.Context) (*api.Operators, error) {
	var o api.Operators
	if err := c.getJSON(ctx, "/api/v1/operators", nil, &o); err != nil {
		return nil, err
	}
	cp, err := c.verifyAnswer(ctx, o.Checkpoint)
	if err != nil {
		return nil, err
	}
	if err := c.proveRecordHash(ctx, o.HeadIndex, o.Head, cp); err != nil {
		return nil, fmt.Errorf("operator chain head: %w", err)
	}
	if err := c.checkOperators(o.Keys); err != nil {
		return nil, err
	}
	return &o, nil
}

// Identity reads a registered identity.
func (c *Client) Identity(ctx context.Context, keyID string, at At) (*api.Identity, error) {
	var id api.Identity
	if err := c.getJSON(ctx, "/api/v1/identities/"+url.PathEscape(keyID), at.values(), &id); err != nil {
		return nil, err
	}
	if _, err := c.verifyAnswer(ctx, id.Checkpoint); err != nil {
		return nil, err
	}
	return &id, nil
}

// DigestFile returns the sha256 digest and size of a file.
func DigestFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return Digest(f)
}

// Digest reads r to its end and returns the sha256 digest and size of what
// it read.
func Digest(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

// UploadBlob uploads content under its digest. progress, if set, is called
// with the bytes sent so far.
func (c *Client) UploadBlob(ctx context.Context, digest string, r io.Reader, size int64, progress func(sent int64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.url("/api/v1/blobs/"+digest, nil), ProgressReader(r, progress))
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return apiError(resp.StatusCode, b)
	}
	return nil
}

// HasBlob says whether the registry serves content with this digest.
func (c *Client) HasBlob(ctx context.Context, digest string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.url("/api/v1/blobs/"+digest, nil), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return true, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone || resp.StatusCode == http.StatusUnavailableForLegalReasons:
		return false, nil
	}
	return false, fmt.Errorf("HEAD /api/v1/blobs/%s: %s", digest, resp.Status)
}

// ProgressReader returns a reader that reads r and calls report, now and
// then and at the end, with the bytes read so far. A nil report returns r.
func ProgressReader(r io.Reader, report func(n int64)) io.Reader {
	if report == nil {
		return r
	}
	return &progressReader{r: r, f: report}
}

type progressReader struct {
	r    io.Reader
	n    int64
	f    func(int64)
	last time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) > 100*time.Millisecond || err == io.EOF {
		p.last = now
		p.f(p.n)
	}
	return n, err
}

// Fetch downloads content to path, verifying its digest (and size, if
// size >= 0, reading no more than that) before the file appears; nothing is
// left behind on mismatch.
func (c *Client) Fetch(ctx context.Context, digest string, size int64, path string, progress func(int64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/api/v1/blobs/"+digest, nil), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return apiError(resp.StatusCode, b)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vouch-fetch-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	limit := int64(math.MaxInt64 - 1)
	if size >= 0 {
		limit = size
	}
	n, err := blob.Verify(ctx, digest, ProgressReader(resp.Body, progress), tmp, limit)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("downloading %s: %w", digest, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("downloaded %d bytes; the release declares %d: refusing it", n, size)
	}
	return atomicfile.Rename(tmp.Name(), path)
}
