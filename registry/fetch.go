package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// NewFetchClient returns the HTTP client that fetches externally linked
// content. Unless allowPrivate is set, it refuses to connect to loopback,
// private, link-local and other non-public addresses, so that a release's
// URL cannot make the registry probe its own network.
func NewFetchClient(allowPrivate bool) *http.Client {
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

// fetchError says why linked content could not be fetched; gone reports
// that the server answered that it is not there.
type fetchError struct {
	msg  string
	gone bool
}

func (e *fetchError) Error() string { return e.msg }

// fetchContent downloads url into the blob store under digest, verifying
// digest and size.
func (r *Registry) fetchContent(ctx context.Context, url, digest string, size int64) error {
	if size > r.cfg.MaxBlobSize {
		return &fetchError{msg: fmt.Sprintf("declared size %d is over the blob limit of %d bytes", size, r.cfg.MaxBlobSize)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &fetchError{msg: err.Error()}
	}
	req.Header.Set("User-Agent", "vouch-registry (content verification)")
	resp, err := r.cfg.Fetcher.Do(req)
	if err != nil {
		return &fetchError{msg: fmt.Sprintf("fetching %s: %v", url, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		gone := resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone
		return &fetchError{msg: fmt.Sprintf("fetching %s: HTTP %d", url, resp.StatusCode), gone: gone}
	}
	n, err := r.blobs().Put(ctx, digest, resp.Body, size)
	if err != nil {
		return &fetchError{msg: fmt.Sprintf("content at %s: %v", url, err), gone: true}
	}
	if n != size {
		r.blobs().Delete(ctx, digest)
		return &fetchError{msg: fmt.Sprintf("content at %s is %d bytes; the release declares %d", url, n, size), gone: true}
	}
	return nil
}
