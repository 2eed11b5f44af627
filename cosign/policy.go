// Package cosign is the log's side of witnessing: witness policies (the
// format Sigsum defined and Tessera reads), checking that a checkpoint
// carries the cosignatures a policy's quorum needs, and a Gateway that
// submits a log's checkpoints to its witnesses (C2SP tlog-witness) and
// gathers their cosignatures (C2SP tlog-cosignature).
package cosign

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"
)

// Policy is a witness policy: the witnesses (each a cosignature/v1
// verifier key and, for the log's side, the URL to submit to), groups of
// them with thresholds, and the quorum a checkpoint must meet.
//
//	witness w1 witness.example/w1+4d6d8b0f+BHGw... https://w1.example/witness
//	witness w2 witness.example/w2+a1b2c3d4+BMcK... https://w2.example/witness
//	group both all w1 w2
//	quorum both
//
// Clients may leave the URL out. The quorum is checked with Tessera's
// implementation of the format.
type Policy struct {
	group     tessera.WitnessGroup
	witnesses []Witness
}

// Witness is one witness of a policy.
type Witness struct {
	// Label is the witness's name in the policy file; Name the name in
	// its key (what its cosignature lines carry).
	Label, Name string
	VKey        string
	Key         note.Verifier
	// URL is where the log submits checkpoints ("" in a client's policy).
	URL string
}

// noURL stands in for a witness's URL in a client's policy, which does not
// submit anything.
const noURL = "https://no-submission-url.invalid/"

// ParsePolicy parses a policy file.
func ParsePolicy(b []byte) (*Policy, error) {
	var withURLs bytes.Buffer
	var ws []Witness
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.Index(text, "#"); i >= 0 {
			text = text[:i]
		}
		f := strings.Fields(text)
		if len(f) > 0 && f[0] == "witness" {
			if len(f) != 3 && len(f) != 4 {
				return nil, fmt.Errorf("policy line %d: want \"witness NAME VKEY [URL]\"", line)
			}
			k, err := fnote.NewVerifierForCosignatureV1(f[2])
			if err != nil {
				return nil, fmt.Errorf("policy line %d: witness %s's key %q is not a cosignature/v1 verifier key: %v", line, f[1], f[2], err)
			}
			w := Witness{Label: f[1], Name: k.Name(), VKey: f[2], Key: k}
			if len(f) == 4 {
				w.URL = f[3]
			} else {
				f = append(f, noURL)
			}
			ws = append(ws, w)
			text = strings.Join(f, " ")
		}
		withURLs.WriteString(text + "\n")
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	g, err := tessera.NewWitnessGroupFromPolicy(withURLs.Bytes())
	if err != nil {
		return nil, fmt.Errorf("witness policy: %v", err)
	}
	return &Policy{group: g, witnesses: ws}, nil
}

// LoadPolicy reads and parses a policy file.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("witness policy: %w", err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Witnesses lists the policy's witnesses, in the file's order.
func (p *Policy) Witnesses() []Witness { return p.witnesses }

// QuorumError reports a checkpoint without the cosignatures the policy's
// quorum needs.
type QuorumError struct {
	Size    uint64
	Have    []string
	Missing []string
}

func (e *QuorumError) Error() string {
	have := "none"
	if len(e.Have) > 0 {
		have = strings.Join(e.Have, ", ")
	}
	return fmt.Sprintf("the checkpoint of size %d is not cosigned by a quorum of the witness policy: it has cosignatures from %s; missing %s",
		e.Size, have, strings.Join(e.Missing, ", "))
}

// Check returns nil if the signed checkpoint cp (with its cosignature
// lines) meets the policy's quorum, and a *QuorumError naming the
// witnesses whose cosignatures are missing otherwise. It checks the
// cosignatures only; the log's own signature is the caller's to check.
func (p *Policy) Check(cp []byte, size uint64) error {
	if p.group.Satisfied(cp) {
		return nil
	}
	e := &QuorumError{Size: size}
	for _, w := range p.witnesses {
		desc := w.Label
		if w.Name != w.Label {
			desc += " (" + w.Name + ")"
		}
		if signedBy(cp, w.Key) {
			e.Have = append(e.Have, desc)
		} else {
			e.Missing = append(e.Missing, desc)
		}
	}
	return e
}

// signedBy reports whether cp carries a valid signature by k.
func signedBy(cp []byte, k note.Verifier) bool {
	n, err := note.Open(cp, note.VerifierList(k))
	return err == nil && len(n.Sigs) == 1
}

// Cosignatures returns the signature lines of cp made by the policy's
// witnesses and valid: what a client keeps with a checkpoint.
func (p *Policy) Cosignatures(cp []byte) []byte {
	var out []byte
	for _, w := range p.witnesses {
		n, err := note.Open(cp, note.VerifierList(w.Key))
		if err != nil || len(n.Sigs) != 1 {
			continue
		}
		out = append(out, fmt.Sprintf("— %s %s\n", n.Sigs[0].Name, n.Sigs[0].Base64)...)
	}
	return out
}

// errNoWitnesses is returned by a Gateway whose policy has no witness to
// submit to.
var errNoWitnesses = errors.New("the witness policy names no witness with a URL to submit to")
