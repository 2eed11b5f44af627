package registry

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/vouchdev/vouch/api"
	"github.com/vouchdev/vouch/store"
)

// Profile returns the off-log profile behind an identity's commitment. It
// reports erased=true when the commitment exists but its profile was erased
// (or never given to this registry).
func (r *Registry) Profile(ctx context.Context, commitment string) (*api.Profile, bool, error) {
	o, err := r.st.OffLog(ctx, commitment)
	if errors.Is(err, store.ErrNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	var sp api.StoredProfile
	if err := json.Unmarshal(o.Data, &sp); err != nil {
		return nil, false, err
	}
	return &sp.Profile, false, nil
}
