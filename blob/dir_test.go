package blob_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vouchdev/vouch/blob"
	"github.com/vouchdev/vouch/blob/blobtest"
)

func TestDir(t *testing.T) {
	root := t.TempDir()
	d, err := blob.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, d)
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Fatalf("%d temporary files left", len(ents))
	}
}
