package state

import "github.com/vouchdev/vouch/record"

// Memory is a complete state held in memory: a View that Changes can be
// committed to. The auditor replays the log into one; tests use it to drive
// the state machine without a database.
type Memory struct {
	Identities map[string]*Identity
	Packages   map[string]*Package
	// Releases is keyed by "name@version".
	Releases map[string]*Release
	Ops      *Operators
	// Contents and Attestations map content digests and attestation dedup
	// keys to the log index that introduced them.
	Contents     map[string]uint64
	Attestations map[string]uint64
	// Aliases map sha384 and sha512 content digests to sha256 ones.
	Aliases map[string]string `json:",omitempty"`
	// Names maps name keys (see record.NameKey) to package names.
	Names map[string]string
}

// NewMemory returns an empty state.
func NewMemory() *Memory {
	return &Memory{Identities: map[string]*Identity{}, Packages: map[string]*Package{}, Releases: map[string]*Release{},
		Contents: map[string]uint64{}, Attestations: map[string]uint64{}, Names: map[string]string{}}
}

// Identity implements View.
func (m *Memory) Identity(id string) (*Identity, error) { return m.Identities[id], nil }

// Package implements View.
func (m *Memory) Package(name string) (*Package, error) { return m.Packages[name], nil }

// Release implements View.
func (m *Memory) Release(pkg, ver string) (*Release, error) { return m.Releases[pkg+"@"+ver], nil }

// Operators implements View.
func (m *Memory) Operators() (*Operators, error) { return m.Ops, nil }

// Content implements View.
func (m *Memory) Content(d string) (bool, error) { _, ok := m.Contents[d]; return ok, nil }

// ContentOf implements View.
func (m *Memory) ContentOf(d string) (string, error) { return m.Aliases[d], nil }

// Attestation implements View.
func (m *Memory) Attestation(a *record.AttestationRef) (bool, error) {
	_, ok := m.Attestations[a.DedupKey()]
	return ok, nil
}

// NameTaken implements View.
func (m *Memory) NameTaken(key string) (string, error) { return m.Names[key], nil }

// Commit applies the changes accepted at log index idx.
func (m *Memory) Commit(c *Changes, idx uint64) {
	if c.NameKey != "" {
		if m.Names == nil {
			m.Names = map[string]string{}
		}
		m.Names[c.NameKey] = c.Package.Name
	}
	for _, d := range c.Contents {
		m.Contents[d] = idx
	}
	for _, k := range c.Attestations {
		m.Attestations[k] = idx
	}
	for alias, d := range c.Aliases {
		if m.Aliases == nil {
			m.Aliases = map[string]string{}
		}
		m.Aliases[alias] = d
	}
	for _, id := range c.Identities {
		m.Identities[id.KeyID] = id
	}
	if c.Package != nil {
		m.Packages[c.Package.Name] = c.Package
	}
	for _, r := range c.Releases {
		m.Releases[r.Package+"@"+r.Version] = r
	}
	if c.Operators != nil {
		m.Ops = c.Operators
	}
}
