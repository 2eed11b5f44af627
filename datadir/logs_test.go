package datadir

import (
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/vouchdev/vouch/translog"
)

func TestLogsAcrossRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	d, err := Open(path, Options{Origin: "example.test/a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Logs.Logs) != 1 || d.Continues() != nil || d.Predecessor() != nil {
		t.Fatalf("a new directory: %+v", d.Logs)
	}
	oldKey := d.LogVKey
	final, err := translog.Sign(d.LogSigner, 5, tlog.Hash{7})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RotateLog("example.test/a", final); err == nil {
		t.Fatal("rotated to the same origin")
	}
	if err := d.RotateLog("example.test/b", final); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Config.Origin != "example.test/b" || len(d.Logs.Logs) != 2 || d.Continues() == nil || d.Continues().Size != 5 ||
		d.Predecessor().Key() != oldKey {
		t.Fatalf("after the rotation: %+v", d.Logs)
	}
	d.Close()
	// A new log after a lost database starts afresh.
	d, err = Open(path, Options{Origin: "example.test/c", NewLog: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Logs.Logs) != 3 || d.Continues() != nil {
		t.Fatalf("after --new-log: %+v", d.Logs)
	}
}
