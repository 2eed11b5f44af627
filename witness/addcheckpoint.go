package witness

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// MaxRequestBody bounds an add-checkpoint request: 63 proof lines and a
// checkpoint with its signatures fit in a few kilobytes.
const MaxRequestBody = 64 << 10

// maxProofLines is the most consistency proof lines a request may carry.
const maxProofLines = 63

// Refusal is a refused add-checkpoint request: the HTTP status the
// specification requires, a message, and for 409 the size of the latest
// checkpoint cosigned.
type Refusal struct {
	Status int
	Msg    string
	// Size is set for 409 Conflict.
	Size uint64
}

func (r *Refusal) Error() string { return fmt.Sprintf("%d: %s", r.Status, r.Msg) }

func refuse(status int, format string, args ...any) *Refusal {
	return &Refusal{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// request is a parsed add-checkpoint body.
type request struct {
	old        uint64
	proof      tlog.TreeProof
	checkpoint []byte
}

// parseRequest parses an add-checkpoint body: "old N", up to 63 base64
// hash lines, an empty line, and a checkpoint.
func parseRequest(body []byte) (*request, error) {
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return nil, refuse(http.StatusBadRequest, "the body has no empty line before the checkpoint")
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	if !sc.Scan() {
		return nil, refuse(http.StatusBadRequest, "the body does not start with an old size line")
	}
	n, ok := strings.CutPrefix(sc.Text(), "old ")
	if !ok {
		return nil, refuse(http.StatusBadRequest, "the first line is not \"old <size>\"")
	}
	old, err := strconv.ParseUint(n, 10, 64)
	if err != nil || strconv.FormatUint(old, 10) != n {
		return nil, refuse(http.StatusBadRequest, "old size %q is not a decimal without leading zeroes", n)
	}
	r := &request{old: old, checkpoint: cp}
	for sc.Scan() {
		if len(r.proof) == maxProofLines {
			return nil, refuse(http.StatusBadRequest, "more than %d consistency proof lines", maxProofLines)
		}
		h, err := base64.StdEncoding.DecodeString(sc.Text())
		if err != nil || len(h) != tlog.HashSize {
			return nil, refuse(http.StatusBadRequest, "consistency proof line %q is not a base64 hash", sc.Text())
		}
		r.proof = append(r.proof, tlog.Hash(h))
	}
	return r, nil
}

// AddCheckpoint handles one add-checkpoint request body, as the
// specification says: it returns the cosignature lines to answer with, or
// a *Refusal.
func (w *Witness) AddCheckpoint(body []byte) ([]byte, error) {
	req, err := parseRequest(body)
	if err != nil {
		return nil, err
	}
	origin, _, _ := bytes.Cut(req.checkpoint, []byte("\n"))
	ls, err := w.state(string(origin))
	if err != nil {
		return nil, err
	}
	if ls == nil {
		return nil, refuse(http.StatusNotFound, "this witness does not witness the log %q", origin)
	}
	// The log's signature: signatures by other keys are ignored (the
	// checkpoint may carry cosignatures already); none verifying is 403.
	n, err := note.Open(req.checkpoint, note.VerifierList(ls.verifier))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return nil, refuse(http.StatusForbidden, "the checkpoint is not signed by the key this witness trusts for %s", origin)
		}
		return nil, refuse(http.StatusBadRequest, "malformed checkpoint: %v", err)
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil || cp.Origin != string(origin) {
		return nil, refuse(http.StatusBadRequest, "malformed checkpoint: %v", err)
	}
	if len(cp.Hash) != tlog.HashSize {
		return nil, refuse(http.StatusBadRequest, "the checkpoint's root hash is %d bytes", len(cp.Hash))
	}
	root := tlog.Hash(cp.Hash)
	if req.old > cp.Size {
		return nil, refuse(http.StatusBadRequest, "old size %d is larger than the checkpoint's size %d", req.old, cp.Size)
	}
	if req.old == 0 && len(req.proof) > 0 {
		return nil, refuse(http.StatusBadRequest, "a consistency proof from size 0 must be empty")
	}

	ls.mu.Lock()
	defer ls.mu.Unlock()
	cur := ls.rec
	if req.old != cur.Size {
		return nil, &Refusal{Status: http.StatusConflict, Size: cur.Size,
			Msg: fmt.Sprintf("the latest checkpoint cosigned for %s has size %d, not %d", origin, cur.Size, req.old)}
	}
	switch {
	case req.old == cp.Size:
		if cur.Size > 0 && tlog.Hash(cur.Root) != root {
			w.log.Warn("ALARM: a log showed two checkpoints of one size with different roots", "origin", string(origin), "size", cp.Size)
			return nil, &Refusal{Status: http.StatusConflict, Size: cur.Size,
				Msg: fmt.Sprintf("a checkpoint of size %d with another root hash was cosigned for %s", cp.Size, origin)}
		}
	case req.old > 0:
		if err := tlog.CheckTree(req.proof, int64(cp.Size), root, int64(req.old), tlog.Hash(cur.Root)); err != nil {
			w.log.Warn("ALARM: a log's checkpoint is not consistent with the one this witness cosigned", "origin", string(origin),
				"cosigned", cur.Size, "submitted", cp.Size, "err", err)
			return nil, refuse(http.StatusUnprocessableEntity, "the consistency proof from size %d to %d does not verify: %v", req.old, cp.Size, err)
		}
	}
	if cp.Size > cur.Size || cur.Checkpoint == "" {
		next := logRecord{Origin: cur.Origin, VKey: cur.VKey, Size: cp.Size, Root: root[:], Checkpoint: string(req.checkpoint)}
		if err := writeRecord(ls.path, &next); err != nil {
			return nil, err
		}
		ls.rec = next
	}
	return w.cosign(req.checkpoint)
}

// cosign returns the witness's cosignature lines over a checkpoint's text.
func (w *Witness) cosign(checkpoint []byte) ([]byte, error) {
	text, _, _ := bytes.Cut(checkpoint, []byte("\n\n"))
	signed, err := note.Sign(&note.Note{Text: string(text) + "\n"}, w.signer)
	if err != nil {
		return nil, err
	}
	_, sigs, _ := bytes.Cut(signed, []byte("\n\n"))
	return sigs, nil
}

// ServeHTTP serves POST /add-checkpoint (under whatever prefix the caller
// mounts it).
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/add-checkpoint") {
		http.Error(rw, "not found: a witness serves POST /add-checkpoint", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "add-checkpoint takes POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := readLimited(r, MaxRequestBody)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	sigs, err := w.AddCheckpoint(body)
	var rf *Refusal
	switch {
	case errors.As(err, &rf):
		if rf.Status == http.StatusConflict {
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(rf.Status)
			fmt.Fprintf(rw, "%d\n", rf.Size)
			return
		}
		http.Error(rw, rf.Msg, rf.Status)
	case err != nil:
		w.log.Error("add-checkpoint failed", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
	default:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(sigs)
	}
}
