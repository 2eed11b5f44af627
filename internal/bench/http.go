package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns a client tuned for many concurrent requests to one
// host.
func NewHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			MaxConnsPerHost:     conns * 2,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func post(ctx context.Context, hc *http.Client, url string, body []byte) (int, []byte, error) {
	return do(ctx, hc, http.MethodPost, url, body)
}

func get(ctx context.Context, hc *http.Client, url string) (int, []byte, error) {
	return do(ctx, hc, http.MethodGet, url, nil)
}

// do sends a request (a JSON body, if any) and reads the whole answer.
func do(ctx context.Context, hc *http.Client, method, url string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// GetJSON fetches a JSON document into v.
func GetJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	st, b, err := get(ctx, hc, url)
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %.200s", url, st, b)
	}
	return json.Unmarshal(b, v)
}
