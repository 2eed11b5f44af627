package record

import (
	"fmt"
	"net/url"
	"strings"
)

// MaxNameLen is the longest package name, in bytes.
const MaxNameLen = 200

// MaxVersionLen is the longest version string, in bytes.
const MaxVersionLen = 128

// NormalizeName lower-cases a package name as typed by a user. Names are
// compared case-insensitively, and records always carry the lower-case form.
func NormalizeName(s string) string { return strings.ToLower(s) }

// ValidateName checks a package name: one or more segments matching
// [a-z0-9][a-z0-9._-]* joined by "/", at most MaxNameLen bytes.
func ValidateName(s string) error {
	if s == "" {
		return fmt.Errorf("package name is empty")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("package name is %d bytes long; the limit is %d", len(s), MaxNameLen)
	}
	for i, seg := range strings.Split(s, "/") {
		if seg == "" {
			return fmt.Errorf("package name %q has an empty segment", s)
		}
		for j := 0; j < len(seg); j++ {
			c := seg[j]
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			case (c == '.' || c == '_' || c == '-') && j > 0:
			case 'A' <= c && c <= 'Z':
				return fmt.Errorf("package name %q must be lower case", s)
			default:
				return fmt.Errorf("package name %q: segment %d must match [a-z0-9][a-z0-9._-]*", s, i+1)
			}
		}
	}
	return nil
}

// ValidateVersion checks a version string: 1 to MaxVersionLen printable ASCII
// characters, no spaces.
func ValidateVersion(s string) error {
	if s == "" {
		return fmt.Errorf("version is empty")
	}
	if len(s) > MaxVersionLen {
		return fmt.Errorf("version is %d bytes long; the limit is %d", len(s), MaxVersionLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("version %q: only printable ASCII characters without spaces are allowed", s)
		}
	}
	return nil
}

// ParseRef splits "name@version" (version optional) and validates both parts.
// The name is normalized to lower case.
func ParseRef(s string) (name, version string, err error) {
	name, version, hasVersion := strings.Cut(s, "@")
	name = NormalizeName(name)
	if err := ValidateName(name); err != nil {
		return "", "", err
	}
	if hasVersion {
		if err := ValidateVersion(version); err != nil {
			return "", "", err
		}
	}
	return name, version, nil
}

// ValidateDigest checks a content digest of the form "sha256:<64 lower-case hex>".
func ValidateDigest(s string) error {
	const p = "sha256:"
	if !strings.HasPrefix(s, p) || len(s) != len(p)+64 {
		return fmt.Errorf("digest %q must be sha256:<64 hex digits>", s)
	}
	for _, c := range s[len(p):] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("digest %q must be sha256:<64 lower-case hex digits>", s)
		}
	}
	return nil
}

// ValidateMediaType checks a media type "type/subtype" (parameters allowed),
// at most 255 bytes of printable ASCII.
func ValidateMediaType(s string) error {
	if s == "" || len(s) > 255 {
		return fmt.Errorf("media type must be 1 to 255 bytes")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return fmt.Errorf("media type %q contains a non-printable character", s)
		}
	}
	t, _, _ := strings.Cut(s, ";")
	typ, sub, ok := strings.Cut(strings.TrimSpace(t), "/")
	if !ok || typ == "" || sub == "" || strings.ContainsAny(typ+sub, " /") {
		return fmt.Errorf("media type %q must look like type/subtype", s)
	}
	return nil
}

// ValidateURL checks an external content URL: absolute http or https, no
// user information, at most 2048 bytes.
func ValidateURL(s string) error {
	if len(s) > 2048 {
		return fmt.Errorf("url is longer than 2048 bytes")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("url %q: %v", s, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("url %q must be http or https", s)
	}
	if u.Host == "" {
		return fmt.Errorf("url %q has no host", s)
	}
	if u.User != nil {
		return fmt.Errorf("url must not carry user information")
	}
	return nil
}

// ValidateReason checks a reason code: 1 to 32 characters of [a-z0-9-],
// starting with a letter.
func ValidateReason(s string) error {
	if s == "" || len(s) > 32 {
		return fmt.Errorf("reason code must be 1 to 32 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '-')) {
			return fmt.Errorf("reason code %q must match [a-z][a-z0-9-]*", s)
		}
	}
	return nil
}
