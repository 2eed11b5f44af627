package server

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strconv"
)

// tufName is what may be served under /tuf/: the versioned metadata, the
// timestamp, and target files by their hash (consistent snapshots). Nothing
// else in the directory (never a key) is reachable.
var tufName = regexp.MustCompile(`^(?:[1-9][0-9]{0,17}\.(?:root|snapshot|targets)\.json|timestamp\.json|targets/[0-9a-f]{64}\.[A-Za-z0-9][A-Za-z0-9._-]{0,99})$`)

// maxTUFFile bounds one file served under /tuf/.
const maxTUFFile = 8 << 20

// tufFile serves the registry's TUF repository (Config.TUF) as static files.
func (s *Server) tufFile(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("path")
	notFound := errorf(http.StatusNotFound, "not_found", "no such TUF file: "+name)
	if s.tuf == nil {
		return errorf(http.StatusNotFound, "not_found", "this registry publishes no TUF repository")
	}
	if !tufName.MatchString(name) {
		return notFound
	}
	f, err := s.tuf.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return notFound
	}
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTUFFile+1))
	if err != nil {
		return err
	}
	if len(b) > maxTUFFile {
		return errorf(http.StatusInternalServerError, "internal", "TUF file too large")
	}
	h := w.Header()
	if name == "timestamp.json" {
		h.Set("Cache-Control", "no-cache")
	} else {
		// Versioned and hashed names never change content.
		h.Set("Cache-Control", "public, max-age=300")
	}
	if name[len(name)-5:] == ".json" {
		h.Set("Content-Type", "application/json")
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, err = w.Write(b)
	return err
}
