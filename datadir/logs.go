package datadir

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/vouchdev/vouch/internal/atomicfile"
	"github.com/vouchdev/vouch/logchain"
	"github.com/vouchdev/vouch/translog"
)

// LogsFile lists every log this directory has signed, in order (see
// package logchain); the registry's TUF repository publishes it.
const LogsFile = logchain.FileName

// loadLogs reads logs.json, or starts it with the current log. A log key
// made since (a new log started with --new-log) is added as a log that
// starts afresh.
func (d *Dir) loadLogs() error {
	path := d.file(LogsFile)
	c, links, err := logchain.Load(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c = &logchain.Chain{}
	case err != nil:
		return err
	}
	if len(c.Logs) > 0 && c.Current().Origin == d.Config.Origin && c.Current().VKey == d.LogVKey {
		d.Logs, d.links = c, links
		return nil
	}
	c.Logs = append(c.Logs, logchain.Log{Origin: d.Config.Origin, VKey: d.LogVKey})
	return d.writeLogs(c)
}

func (d *Dir) writeLogs(c *logchain.Chain) error {
	links, err := c.Verify()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(d.file(LogsFile), c.Marshal(), 0o644); err != nil {
		return err
	}
	d.Logs, d.links = c, links
	return nil
}

// Continues returns the previous log's last checkpoint, which the current
// log continues, or nil if it started afresh.
func (d *Dir) Continues() *translog.Checkpoint { return d.links[len(d.links)-1].Continues }

// Predecessor returns the verifier of the log the current one continues, or
// nil.
func (d *Dir) Predecessor() *translog.Verifier {
	if d.Continues() == nil {
		return nil
	}
	return d.links[len(d.links)-2].Verifier
}

// RotateLog retires the log key and starts a new log under origin that
// continues the current one from its last checkpoint, final (a signed
// note, verified with the current key): it must be the newest checkpoint
// in the database, which the new log extends. The old key, its verifier
// key and its signer's record are kept aside (".retired-<time>"); logs.json
// records the new log with final. No server may run on the directory.
func (d *Dir) RotateLog(origin string, final []byte) error {
	v, err := translog.NewVerifier(d.LogVKey)
	if err != nil {
		return err
	}
	cp, err := v.Open(final)
	if err != nil {
		return fmt.Errorf("the last checkpoint of the log %s does not verify with its key: %v", d.Config.Origin, err)
	}
	g, err := d.OpenGuard()
	if err != nil {
		return err
	}
	if last := g.Last(); last != nil && (last.Size > cp.Size || last.Size == cp.Size && last.Hash != cp.Hash) {
		return fmt.Errorf("the database's newest checkpoint (size %d) is not the newest this log key signed (size %d, in %s): start the server once without --rotate-log to settle a checkpoint a crash left pending, or restore the database that holds it, before rotating the key",
			cp.Size, last.Size, d.file(GuardFile))
	}
	if err := d.retireLog(origin); err != nil {
		return err
	}
	if err := d.loadConfig(origin); err != nil {
		return err
	}
	if err := d.loadLogKey(); err != nil {
		return err
	}
	c := &logchain.Chain{Logs: append(d.Logs.Logs[:len(d.Logs.Logs):len(d.Logs.Logs)],
		logchain.Log{Origin: origin, VKey: d.LogVKey, Continues: string(final)})}
	return d.writeLogs(c)
}
