// Package s3blob is a blob.Store on any S3-compatible object store
// (minio-go). Uploads stream to a temporary object while they are hashed;
// only content whose digest matches is copied to its final name, so a blob
// that is visible always has the bytes its name says.
package s3blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/vouchdev/vouch/blob"
)

// Store is a blob.Store in an S3 bucket.
type Store struct {
	c      *minio.Client
	bucket string
	prefix string
}

// Open opens the store named by an s3:// URL:
//
//	s3://BUCKET[/PREFIX]?endpoint=HOST:PORT&region=REGION&secure=false
//
// Credentials come from the usual environment variables
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or MINIO_ACCESS_KEY and
// MINIO_SECRET_KEY). The bucket is created if it does not exist.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("blob store %q: want s3://BUCKET?endpoint=HOST:PORT", rawURL)
	}
	q := u.Query()
	endpoint := q.Get("endpoint")
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	secure := true
	if v := q.Get("secure"); v != "" {
		if secure, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("blob store: secure=%q is not a boolean", v)
		}
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.EnvMinio{}})
	c, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: secure, Region: q.Get("region")})
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	s := &Store{c: c, bucket: u.Host, prefix: strings.Trim(u.Path, "/")}
	if s.prefix != "" {
		s.prefix += "/"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ok, err := c.BucketExists(ctx, s.bucket)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", endpoint, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: q.Get("region")}); err != nil {
			return nil, fmt.Errorf("creating bucket %s: %w", s.bucket, err)
		}
	}
	return s, nil
}

func (s *Store) key(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("blob digest %q must be sha256:<64 lower-case hex digits>", digest)
	}
	return s.prefix + "sha256/" + h[:2] + "/" + h, nil
}

// smallBlob is the size up to which an upload is verified in memory and
// written with a single PUT; larger ones stream through a temporary object.
const smallBlob = 8 << 20

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, digest string, r io.Reader, maxSize int64) (int64, error) {
	final, err := s.key(digest)
	if err != nil {
		return 0, err
	}
	var head bytes.Buffer
	limit := min(smallBlob, maxSize+1)
	n, err := io.Copy(&head, io.LimitReader(r, limit))
	if err != nil {
		return n, err
	}
	if n < limit {
		// All of it is in memory: verify, then one PUT to the final name.
		if _, err := blob.Verify(ctx, digest, bytes.NewReader(head.Bytes()), io.Discard, maxSize); err != nil {
			return n, err
		}
		_, err := s.c.PutObject(ctx, s.bucket, final, bytes.NewReader(head.Bytes()), n,
			minio.PutObjectOptions{ContentType: "application/octet-stream"})
		return n, err
	}
	return s.putLarge(ctx, digest, final, io.MultiReader(&head, r), maxSize)
}

// putLarge streams an upload to a temporary object while hashing it, and
// copies it to its final name only if the digest matches.
func (s *Store) putLarge(ctx context.Context, digest, final string, r io.Reader, maxSize int64) (int64, error) {
	rnd := make([]byte, 12)
	rand.Read(rnd)
	tmp := s.prefix + "tmp/" + hex.EncodeToString(rnd)
	pr, pw := io.Pipe()
	type result struct {
		n   int64
		err error
	}
	verified := make(chan result, 1)
	go func() {
		n, err := blob.Verify(ctx, digest, r, pw, maxSize)
		pw.CloseWithError(err)
		verified <- result{n, err}
	}()
	_, upErr := s.c.PutObject(ctx, s.bucket, tmp, pr, -1, minio.PutObjectOptions{
		ContentType: "application/octet-stream", PartSize: 16 << 20})
	pr.CloseWithError(upErr)
	v := <-verified
	defer s.c.RemoveObject(context.Background(), s.bucket, tmp, minio.RemoveObjectOptions{})
	if v.err != nil {
		return v.n, v.err
	}
	if upErr != nil {
		return v.n, upErr
	}
	if _, err := s.c.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: final},
		minio.CopySrcOptions{Bucket: s.bucket, Object: tmp}); err != nil {
		return v.n, err
	}
	return v.n, nil
}

type object struct {
	*minio.Object
	size int64
	mod  time.Time
}

func (o *object) Size() int64        { return o.size }
func (o *object) ModTime() time.Time { return o.mod }

func notFound(err error) bool {
	return minio.ToErrorResponse(err).Code == "NoSuchKey"
}

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, digest string) (blob.Blob, error) {
	k, err := s.key(digest)
	if err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, k, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	st, err := o.Stat()
	if err != nil {
		o.Close()
		if notFound(err) {
			return nil, blob.ErrNotFound
		}
		return nil, err
	}
	return &object{Object: o, size: st.Size, mod: st.LastModified}, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, digest string) (int64, error) {
	k, err := s.key(digest)
	if err != nil {
		return 0, err
	}
	st, err := s.c.StatObject(ctx, s.bucket, k, minio.StatObjectOptions{})
	if err != nil {
		if notFound(err) {
			return 0, blob.ErrNotFound
		}
		return 0, err
	}
	return st.Size, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, digest string) error {
	k, err := s.key(digest)
	if err != nil {
		return err
	}
	err = s.c.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{})
	if err != nil && !notFound(err) {
		return err
	}
	return nil
}

var _ blob.Store = (*Store)(nil)
