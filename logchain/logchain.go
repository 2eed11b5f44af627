// Package logchain describes the logs of one registry in the order they
// were used: logs.json, the document a registry's data directory keeps and
// its TUF repository publishes. A registry signs its log with one key under
// one origin; when the key is rotated, a new log under a new origin
// continues the old one. It keeps the same Merkle tree: the old log's last
// signed checkpoint (recorded in logs.json and, as a continue record, in the
// log itself) is a prefix of every checkpoint of the new log, so a client
// that trusted the old log carries its trust across with a consistency
// proof. A log whose predecessor's database was lost starts afresh, with no
// checkpoint to continue from.
//
// The format:
//
//	{"logs": [
//	  {"origin": "registry.example.com/vouch", "vkey": "registry.example.com/vouch+1a2b3c4d+AY…"},
//	  {"origin": "registry.example.com/vouch-2", "vkey": "registry.example.com/vouch-2+5e6f7a8b+Ac…",
//	   "continues": "registry.example.com/vouch\n1234\nq1w2…=\n\n— registry.example.com/vouch Gqk…\n"}
//	]}
//
// The last log is the current one. "continues" is the previous log's last
// checkpoint, as signed by the previous log's key; it is absent for the first
// log and for a log that started afresh.
package logchain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/vouchdev/vouch/translog"
)

// FileName is the name of the document, in a data directory and as a TUF
// target.
const FileName = "logs.json"

// Log is one log of a registry.
type Log struct {
	Origin string `json:"origin"`
	VKey   string `json:"vkey"`
	// Continues is the previous log's last signed checkpoint (a signed
	// note), which this log extends; empty if it starts afresh.
	Continues string `json:"continues,omitempty"`
}

// Chain is the logs of a registry, oldest first; the last is current.
type Chain struct {
	Logs []Log `json:"logs"`
}

// Link is a verified log of a chain.
type Link struct {
	Verifier *translog.Verifier
	// Continues is the previous log's last checkpoint, verified with the
	// previous log's key, or nil.
	Continues *translog.Checkpoint
}

// Parse decodes and checks a chain (see Verify).
func Parse(b []byte) (*Chain, []Link, error) {
	var c Chain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", FileName, err)
	}
	links, err := c.Verify()
	if err != nil {
		return nil, nil, err
	}
	return &c, links, nil
}

// Load reads and parses a chain file.
func Load(path string) (*Chain, []Link, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	c, links, err := Parse(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, links, nil
}

// Verify checks the chain: at least one log; every key parses and is named
// by its origin; origins are distinct; every continues checkpoint is signed
// by the previous log's key.
func (c *Chain) Verify() ([]Link, error) {
	if len(c.Logs) == 0 {
		return nil, fmt.Errorf("%s lists no log", FileName)
	}
	seen := map[string]bool{}
	links := make([]Link, len(c.Logs))
	for i, l := range c.Logs {
		v, err := translog.NewVerifier(l.VKey)
		if err != nil {
			return nil, fmt.Errorf("%s: log %d: %v", FileName, i, err)
		}
		if v.Origin() != l.Origin {
			return nil, fmt.Errorf("%s: log %d: the key %q is for the origin %q, not %q", FileName, i, l.VKey, v.Origin(), l.Origin)
		}
		if seen[l.Origin] {
			return nil, fmt.Errorf("%s: the origin %q is listed twice", FileName, l.Origin)
		}
		seen[l.Origin] = true
		links[i].Verifier = v
		if l.Continues == "" {
			continue
		}
		if i == 0 {
			return nil, fmt.Errorf("%s: the first log (%s) cannot continue another", FileName, l.Origin)
		}
		cp, err := links[i-1].Verifier.Open([]byte(l.Continues))
		if err != nil {
			return nil, fmt.Errorf("%s: log %s continues a checkpoint that the key of %s does not verify: %v", FileName, l.Origin, c.Logs[i-1].Origin, err)
		}
		links[i].Continues = cp
	}
	return links, nil
}

// Current returns the current (last) log.
func (c *Chain) Current() Log { return c.Logs[len(c.Logs)-1] }

// Marshal encodes the chain as logs.json.
func (c *Chain) Marshal() []byte {
	b, _ := json.MarshalIndent(c, "", "  ")
	return append(b, '\n')
}

// ErrNotInChain is returned by Find for an origin the chain does not list.
var ErrNotInChain = errors.New("not a log of this registry")

// Find returns the index of the log with the given origin.
func (c *Chain) Find(origin string) (int, error) {
	for i, l := range c.Logs {
		if l.Origin == origin {
			return i, nil
		}
	}
	return -1, fmt.Errorf("%q: %w", origin, ErrNotInChain)
}
