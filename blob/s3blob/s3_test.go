package s3blob

import (
	"context"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/vouchdev/vouch/blob/blobtest"
	"github.com/vouchdev/vouch/internal/testenv"
)

// TestS3 runs the blob conformance suite on the S3-compatible server named
// by $VOUCH_TEST_S3 (scripts/test.sh starts one).
func TestS3(t *testing.T) {
	u := testenv.Bucket(t)
	if u == "" {
		testenv.Skip(t, "VOUCH_TEST_S3 is not set")
	}
	s, err := Open(context.Background(), u+"&x=1")
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, s)
	// No temporary upload objects are left behind.
	for o := range s.c.ListObjects(context.Background(), s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if strings.Contains(o.Key, "tmp/") {
			t.Errorf("temporary object left: %s", o.Key)
		}
	}
	if _, err := Open(context.Background(), "s3://"); err == nil {
		t.Fatal("empty bucket accepted")
	}
}
