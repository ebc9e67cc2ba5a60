package image

import (
	"errors"
	"fmt"
	"strings"
)

// Reference is an image name as docker reads one: "busybox" is
// docker.io/library/busybox:latest, "debian:12" docker.io/library/debian:12,
// "localhost:5000/x/y" a repository on the registry at localhost:5000,
// "busybox@sha256:..." one exact manifest. The rules are those of docker's
// reference package (github.com/distribution/reference, normalize.go),
// written out here: that package compiles its grammar into regular
// expressions at start-up, which every run of mini would pay for.
type Reference struct {
	Domain string // the registry: "docker.io", "localhost:5000", "ghcr.io"
	Path   string // the repository on it: "library/busybox", "x/y"
	Tag    string // "latest" unless given; "" with a digest and no tag
	Digest string // "sha256:<64 hex digits>", or ""
}

// The registry a name without one is on, and the repository prefix of its
// one-word names ("busybox" is library/busybox there).
const (
	defaultDomain = "docker.io"
	legacyDomain  = "index.docker.io"
	officialRepos = "library/"
	defaultTag    = "latest"
)

// ParseReference reads an image name. Its error says what is wrong with it.
func ParseReference(s string) (Reference, error) {
	var r Reference
	if s == "" {
		return r, errors.New("an image name is empty")
	}
	if len(s) > 255+72+128 {
		return r, fmt.Errorf("image name %.40q...: too long", s)
	}
	name := s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, r.Digest = name[:i], name[i+1:]
		if err := checkDigest(r.Digest); err != nil {
			return r, fmt.Errorf("image name %q: %w", s, err)
		}
	}
	// A tag follows the last ':' after the last '/': "localhost:5000/x" has
	// a port, not a tag.
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, r.Tag = name[:i], name[i+1:]
		if !validTag(r.Tag) {
			return r, fmt.Errorf("image name %q: tag %q: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", s, r.Tag)
		}
	}
	// The first component is a registry if it looks like a host: it has a
	// '.' or a ':', or is "localhost". "library/busybox" is a repository.
	r.Domain, r.Path = defaultDomain, name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		first := name[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			r.Domain, r.Path = first, name[i+1:]
		}
	}
	if r.Domain == legacyDomain {
		r.Domain = defaultDomain
	}
	if r.Domain == defaultDomain && !strings.Contains(r.Path, "/") {
		r.Path = officialRepos + r.Path
	}
	if err := checkDomain(r.Domain); err != nil {
		return r, fmt.Errorf("image name %q: %w", s, err)
	}
	if err := checkPath(r.Path); err != nil {
		return r, fmt.Errorf("image name %q: %w", s, err)
	}
	if len(r.Domain)+1+len(r.Path) > 255 {
		return r, fmt.Errorf("image name %q: the repository name is longer than 255 characters", s)
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = defaultTag
	}
	return r, nil
}

// Name is the repository's full name: "docker.io/library/busybox".
func (r Reference) Name() string { return r.Domain + "/" + r.Path }

// String is the full reference: "docker.io/library/busybox:latest", with
// "@sha256:..." when it names a digest.
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// FamiliarName is the repository as docker shows it: "busybox" for
// docker.io/library/busybox, "x/y" for docker.io/x/y, the full name
// elsewhere.
func (r Reference) FamiliarName() string {
	if r.Domain != defaultDomain {
		return r.Name()
	}
	return strings.TrimPrefix(r.Path, officialRepos)
}

// Familiar is the reference as docker shows it: "busybox:latest".
func (r Reference) Familiar() string {
	s := r.FamiliarName()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// checkDigest accepts "sha256:" and 64 lowercase hex digits, the only
// digest mini handles (image-spec descriptor.md, "Digests").
func checkDigest(d string) error {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return fmt.Errorf("digest %q: want sha256: and 64 lowercase hex digits", d)
	}
	return nil
}

// validTag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validTag(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for _, c := range t {
		if !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// checkDomain accepts host[:port]: DNS labels of letters, digits and '-'
// separated by '.', an IPv6 address in brackets, and a numeric port.
func checkDomain(d string) error {
	host, port := d, ""
	if strings.HasPrefix(d, "[") {
		i := strings.IndexByte(d, ']')
		if i < 0 {
			return fmt.Errorf("registry %q: an IPv6 address needs its ']'", d)
		}
		host, port = d[:i+1], strings.TrimPrefix(d[i+1:], ":")
	} else if i := strings.LastIndexByte(d, ':'); i >= 0 {
		host, port = d[:i], d[i+1:]
		if port == "" {
			return fmt.Errorf("registry %q: empty port", d)
		}
	}
	if strings.Trim(port, "0123456789") != "" || len(port) > 5 {
		return fmt.Errorf("registry %q: the port must be a number", d)
	}
	if strings.HasPrefix(host, "[") {
		return nil
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("registry %q is not a host name", d)
		}
		for _, c := range label {
			if !isAlnum(c) && c != '-' {
				return fmt.Errorf("registry %q is not a host name", d)
			}
		}
	}
	return nil
}

// checkPath accepts a repository path: components of lowercase letters and
// digits, separated inside by '.', '_', "__" or runs of '-'.
func checkPath(p string) error {
	for _, c := range strings.Split(p, "/") {
		if c == "" {
			return errors.New("an empty path component")
		}
		if strings.ToLower(c) != c {
			return fmt.Errorf("repository name %q must be lowercase", p)
		}
		if !isAlnum(rune(c[0])) || !isAlnum(rune(c[len(c)-1])) {
			return fmt.Errorf("repository component %q must start and end with a letter or digit", c)
		}
		for i := 0; i < len(c); i++ {
			switch ch := c[i]; {
			case isAlnum(rune(ch)) || ch == '-':
			case ch == '.' || ch == '_':
				// one '.', one '_' or "__", between letters or digits
				prev := c[i-1]
				if ch == '_' && i+1 < len(c) && c[i+1] == '_' {
					i++
				}
				if !isAlnum(rune(prev)) || i+1 < len(c) && !isAlnum(rune(c[i+1])) {
					return fmt.Errorf("repository component %q: separators '.', '_' and '__' stand between letters or digits", c)
				}
			default:
				return fmt.Errorf("repository component %q: only lowercase letters, digits, '.', '_' and '-'", c)
			}
		}
	}
	return nil
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
