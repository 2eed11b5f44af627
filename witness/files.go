package witness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/vouchdev/vouch/internal/atomicfile"
)

// writeRecord records a log's state durably (see atomicfile): the witness
// answers only once it is on disk.
func writeRecord(path string, rec *logRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// readLimited reads a request body of at most limit bytes.
func readLimited(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the request: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, errors.New("the request is larger than an add-checkpoint request can be")
	}
	return b, nil
}
