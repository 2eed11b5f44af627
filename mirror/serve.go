package mirror

import (
	"context"
	"io"

	"github.com/vouchdev/vouch"
	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/registry"
)

// serving is the mirror as the HTTP edge sees it: the reads of its
// registry, writes refused with the upstream named, and a status that says
// how far behind the mirror is.
type serving struct {
	*registry.Registry
	m *Mirror
}

// Serving returns what package server serves for the mirror.
func (m *Mirror) Serving() vouch.Registry { return serving{Registry: m.cfg.Registry, m: m} }

func (s serving) readOnly() error { return &vouch.ReadOnlyError{Upstream: s.m.base.String()} }

// Submit refuses: a mirror takes no writes.
func (s serving) Submit(context.Context, []byte, []string) (vouch.Receipt, error) {
	return vouch.Receipt{}, s.readOnly()
}

// Admin refuses: a mirror takes no writes.
func (s serving) Admin(context.Context, []byte) (any, error) { return nil, s.readOnly() }

// PutBlob refuses: a mirror takes no writes.
func (s serving) PutBlob(context.Context, string, io.Reader) (int64, error) { return 0, s.readOnly() }

// Status adds the mirror's state to the registry's.
func (s serving) Status(ctx context.Context) (*api.Status, error) {
	st, err := s.Registry.Status(ctx)
	if err != nil {
		// Nothing mirrored yet: say so, rather than fail.
		st = &api.Status{Origin: s.Origin()}
	}
	ms := s.m.Status()
	st.Mirror = &ms
	if ms.Stopped {
		st.Alarms = append(st.Alarms, "stopped following the upstream: "+ms.Evidence)
	}
	return st, nil
}
