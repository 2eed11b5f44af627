// Package atomicfile writes files so that a crash at any moment leaves
// either the old content or the new, never a truncated mix: the data goes
// to a temporary file in the same directory, which is flushed to disk
// (fsync), renamed over the target, and the directory is flushed too so
// that the rename itself survives a power cut. Every file the project
// writes for itself (keys, configuration, the signer's last checkpoint, a
// client's trusted checkpoints, audit progress, a witness's state) goes
// through here.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Write replaces the file at path with data, durably and atomically.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := Rename(f.Name(), path); err != nil {
		return err
	}
	ok = true
	return nil
}

// Create writes data to a new file at path, durably; it fails if path
// exists (for keys, which must never be overwritten).
func Create(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Rename moves a complete temporary file, already flushed by the caller,
// over path and flushes the directory.
func Rename(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir flushes a directory's entries to disk. Windows has no such
// operation (renames are durable there once they return), so it is a no-op
// there.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("flushing directory %s: %w", dir, err)
	}
	return nil
}
