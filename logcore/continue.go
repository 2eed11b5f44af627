package logcore

import (
	"fmt"

	"github.com/vouchdev/vouch/store"
)

// continuing reports whether the store's newest checkpoint is the last
// checkpoint of the log this one continues (Config.Continues), as signed by
// that log's key: a rotated log that has not signed its first checkpoint.
func (l *Log[T]) continuing(row *store.CheckpointRow) (bool, error) {
	c := l.cfg.Continues
	if c == nil || l.cfg.ContinuesKey == nil {
		return false, nil
	}
	if _, err := l.cfg.ContinuesKey.Open(row.Note); err != nil {
		return false, nil
	}
	if row.Size != c.Size || row.Root != c.Hash {
		return false, fmt.Errorf("the database's newest checkpoint of the log %s (size %d) is not the last one its successor continues (size %d)",
			c.Origin, row.Size, c.Size)
	}
	return true, nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return "; " + err.Error()
}
