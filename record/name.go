package record

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// MaxNameLen is the longest package name, in bytes.
const MaxNameLen = 200

// MaxVersionLen is the longest version string, in bytes.
const MaxVersionLen = 128

// NormalizeName lower-cases a package name as typed by a user. Names are
// compared case-insensitively, and records always carry the lower-case form.
func NormalizeName(s string) string { return strings.ToLower(s) }

// ValidateName checks a package name: one or more segments joined by "/",
// at most MaxNameLen bytes. A segment is lower-case letters and digits,
// with single separators ("-", "_" or ".") between them: no separator
// leads, trails or follows another, so that "widget.", "wid..get" and
// "-widget" are not names.
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
			case isSeparator(c):
				if j == 0 || j == len(seg)-1 || isSeparator(seg[j-1]) {
					return fmt.Errorf("package name %q: segment %d may not start or end with %q, nor hold two separators in a row", s, i+1, c)
				}
			case 'A' <= c && c <= 'Z':
				return fmt.Errorf("package name %q must be lower case", s)
			default:
				return fmt.Errorf("package name %q: segment %d may hold only a-z, 0-9 and single separators (-, _ or .)", s, i+1)
			}
		}
	}
	return nil
}

func isSeparator(c byte) bool { return c == '-' || c == '_' || c == '.' }

// NameKey returns the form under which two package names are the same
// name: each segment with its separators removed, so "acme/wid-get",
// "acme/wid_get" and "acme/wid.get" all collide with "acme/widget". A
// registry holds at most one package per key, so that no name can pass for
// another that differs from it only in punctuation. (This is stricter than
// PyPI's normalisation, which treats every separator as one but keeps
// them.)
func NameKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isSeparator(c) {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ValidateVersion checks a version: a semantic version (SemVer 2.0.0,
// https://semver.org) without a "v" prefix and without build metadata, at
// most MaxVersionLen bytes. Build metadata is refused because SemVer says
// it does not make a different version: two releases may never differ only
// by it.
func ValidateVersion(s string) error {
	if s == "" {
		return fmt.Errorf("version is empty")
	}
	if len(s) > MaxVersionLen {
		return fmt.Errorf("version is %d bytes long; the limit is %d", len(s), MaxVersionLen)
	}
	v, err := semver.StrictNewVersion(s)
	if err != nil {
		hint := ""
		switch {
		case strings.HasPrefix(s, "v") || strings.HasPrefix(s, "V"):
			hint = fmt.Sprintf(" (write %q, without the v)", s[1:])
		case strings.Count(s, ".") < 2:
			hint = " (a version has three numbers: MAJOR.MINOR.PATCH, e.g. 1.0.0)"
		}
		return fmt.Errorf("version %q is not a semantic version: %v%s", s, err, hint)
	}
	if v.Metadata() != "" {
		return fmt.Errorf("version %q carries build metadata (+%s), which does not make a different version; publish it as %q", s, v.Metadata(), strings.SplitN(s, "+", 2)[0])
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

// SubjectAlgorithms are the digest algorithms a statement may name content
// by, with the length of their hex digests: sha256 (the registry's own), and
// sha384 and sha512, which other ecosystems use (npm names a tarball by
// sha512 only).
var SubjectAlgorithms = []struct {
	Name   string
	HexLen int
}{{"sha256", 64}, {"sha384", 96}, {"sha512", 128}}

// ValidateSubjectDigest checks a content digest "<alg>:<lower-case hex>"
// whose algorithm is one of SubjectAlgorithms.
func ValidateSubjectDigest(s string) error {
	alg, h, _ := strings.Cut(s, ":")
	for _, a := range SubjectAlgorithms {
		if a.Name != alg {
			continue
		}
		if len(h) != a.HexLen || !isLowerHex(h) {
			return fmt.Errorf("digest %q must be %s:<%d lower-case hex digits>", s, alg, a.HexLen)
		}
		return nil
	}
	return fmt.Errorf("digest %q must be sha256:<hex>, sha384:<hex> or sha512:<hex>", s)
}

// ValidateContentDigests checks the digests a release leaf records of its
// content besides sha256 (see docs/records.md, "Leaves"): sha384 and sha512,
// each at most once, in that order.
func ValidateContentDigests(ds []string) error {
	if len(ds) > 2 {
		return fmt.Errorf("at most a sha384 and a sha512 digest")
	}
	for i, d := range ds {
		if strings.HasPrefix(d, "sha256:") {
			return fmt.Errorf("digest %q: the record itself names the sha256 digest", d)
		}
		if err := ValidateSubjectDigest(d); err != nil {
			return err
		}
		if i > 0 && d[:6] <= ds[i-1][:6] {
			return fmt.Errorf("digests must be sorted, one per algorithm")
		}
	}
	return nil
}

func isLowerHex(h string) bool {
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
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
