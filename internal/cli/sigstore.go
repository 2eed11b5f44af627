package cli

import (
	"github.com/vouchdev/vouch/sigstore"
)

// loadTrustedRoots reads the --sigstore-trusted-root files (none: nil,
// which trusts no root).
func loadTrustedRoots(paths []string) (*sigstore.Roots, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	for _, p := range paths {
		if err := expectFile(p, "--sigstore-trusted-root", kindTrustedRoot); err != nil {
			return nil, err
		}
	}
	return sigstore.LoadRoots(paths...)
}
