package mirror

import "github.com/vouchdev/vouch/metrics"

// readings are the mirror's figures for a scrape.
func (m *Mirror) readings() metrics.MirrorReadings {
	st := m.Status()
	return metrics.MirrorReadings{UpstreamSize: st.UpstreamSize, Size: st.Size, Stopped: st.Stopped, LastSync: st.LastSync}
}
