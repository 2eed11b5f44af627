package tufrepo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vouchdev/vouch/keys"
)

// Operators is operators.json: the registry's operator keys, those whose
// records the log's operator chain may hold. Clients refuse an operator
// chain that names a key this list lacks.
//
//	{"operators": [{"keyId": "sha256:…", "publicKey": "MCowBQYDK2VwAyEA…"}]}
//
// publicKey is the base64 DER (SubjectPublicKeyInfo) of the key, as in
// records; keyId its key ID.
type Operators struct {
	Operators []Operator `json:"operators"`
}

// Operator is one operator key.
type Operator struct {
	KeyID     string `json:"keyId"`
	PublicKey string `json:"publicKey"`
}

// MarshalOperators encodes operators.json for the given keys.
func MarshalOperators(pubs ...*keys.PublicKey) []byte {
	o := Operators{Operators: []Operator{}}
	for _, p := range pubs {
		o.Operators = append(o.Operators, Operator{KeyID: p.ID(), PublicKey: p.Base64()})
	}
	b, _ := json.MarshalIndent(o, "", "  ")
	return append(b, '\n')
}

// ParseOperators decodes operators.json, checking every key and its ID.
func ParseOperators(b []byte) (*Operators, error) {
	var o Operators
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("%s: %v", TargetOperators, err)
	}
	for _, op := range o.Operators {
		p, err := keys.ParsePublicBase64(op.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", TargetOperators, err)
		}
		if p.ID() != op.KeyID {
			return nil, fmt.Errorf("%s: the key ID of %s is %s, not %s", TargetOperators, op.PublicKey, p.ID(), op.KeyID)
		}
	}
	return &o, nil
}

// KeyIDs returns the operators' key IDs.
func (o *Operators) KeyIDs() []string {
	var out []string
	for _, op := range o.Operators {
		out = append(out, op.KeyID)
	}
	return out
}

// Refresh publishes a new snapshot and timestamp whenever they are due (see
// Publish): at once, then every interval, until ctx ends. A server runs it
// with the online key; errors are logged, and a timestamp that cannot be
// refreshed is an ERROR (clients refuse the repository once it expires).
func (r *Repo) Refresh(ctx context.Context, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		changed, err := r.Publish(false)
		var mk *MissingKeysError
		switch {
		case errors.As(err, &mk):
			log.Error("cannot refresh the TUF timestamp: the online key is missing", "err", err)
		case err != nil:
			log.Error("refreshing the TUF snapshot and timestamp failed; clients refuse the repository once the timestamp expires", "err", err)
		case changed:
			log.Info("published a new TUF timestamp", "dir", r.Dir)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
