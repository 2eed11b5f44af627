// Package content fetches and watches release content that is linked by
// URL rather than uploaded: a Fetcher downloads it into the blob store,
// verifying its digest and size (and never reaching the registry's own
// network unless allowed), and a Monitor re-checks it now and then,
// reporting content that changed or vanished so the registry can
// tombstone the release.
package content

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/vouchdev/vouch/blob"
)

// NewClient returns the HTTP client that fetches linked content. Unless
// allowPrivate is set, it refuses to connect to loopback, private,
// link-local and other non-public addresses, so that a release's URL
// cannot make the registry probe its own network.
func NewClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 15 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
				return fmt.Errorf("refusing to fetch from non-public address %s", host)
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   10 * time.Minute,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
}

// FetchError says why linked content could not be fetched. Gone reports
// that the server answered that it is not there, or served other bytes:
// the release's content is lost, not just unreachable for now. Changed
// tells the second case from the first.
type FetchError struct {
	Msg     string
	Gone    bool
	Changed bool
}

func (e *FetchError) Error() string { return e.Msg }

// Fetcher downloads linked content into a blob store.
type Fetcher struct {
	Client *http.Client
	Blobs  blob.Store
	// MaxSize is the largest content fetched.
	MaxSize int64
}

// Fetch downloads url into the blob store under digest, verifying digest
// and size; nothing is stored unless both match. Errors are *FetchError.
func (f *Fetcher) Fetch(ctx context.Context, url, digest string, size int64) error {
	if size > f.MaxSize {
		return &FetchError{Msg: fmt.Sprintf("declared size %d is over the blob limit of %d bytes", size, f.MaxSize)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &FetchError{Msg: err.Error()}
	}
	req.Header.Set("User-Agent", "vouch-registry (content verification)")
	resp, err := f.Client.Do(req)
	if err != nil {
		return &FetchError{Msg: fmt.Sprintf("fetching %s: %v", url, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		gone := resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone
		return &FetchError{Msg: fmt.Sprintf("fetching %s: HTTP %d", url, resp.StatusCode), Gone: gone}
	}
	n, err := f.Blobs.Put(ctx, digest, resp.Body, size)
	if err != nil {
		return &FetchError{Msg: fmt.Sprintf("content at %s: %v", url, err), Gone: true, Changed: true}
	}
	if n != size {
		f.Blobs.Delete(ctx, digest)
		return &FetchError{Msg: fmt.Sprintf("content at %s is %d bytes; the release declares %d", url, n, size), Gone: true, Changed: true}
	}
	return nil
}

// Ensure makes sure content is in the blob store with the declared size,
// fetching and verifying it if needed.
func (f *Fetcher) Ensure(ctx context.Context, url, digest string, size int64) error {
	if n, err := f.Blobs.Stat(ctx, digest); err == nil && n == size {
		return nil
	}
	return f.Fetch(ctx, url, digest, size)
}
