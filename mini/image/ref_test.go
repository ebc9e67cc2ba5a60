package image

import "testing"

// TestParseReference: docker's rules (distribution/reference's
// normalize_test.go and docker pull's behaviour).
func TestParseReference(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                         "docker.io/library/busybox:latest",
		"debian:12":                       "docker.io/library/debian:12",
		"library/debian:12":               "docker.io/library/debian:12",
		"docker.io/busybox":               "docker.io/library/busybox:latest",
		"index.docker.io/library/alpine":  "docker.io/library/alpine:latest",
		"user/repo":                       "docker.io/user/repo:latest",
		"localhost/x":                     "localhost/x:latest",
		"localhost:5000/x/y":              "localhost:5000/x/y:latest",
		"localhost:5000/x/y:v1.2-rc_3":    "localhost:5000/x/y:v1.2-rc_3",
		"127.0.0.1:5000/a/b/c:t":          "127.0.0.1:5000/a/b/c:t",
		"ghcr.io/owner/img":               "ghcr.io/owner/img:latest",
		"[::1]:5000/x":                    "[::1]:5000/x:latest",
		"my-reg.example.com/a__b/c.d/e-f": "my-reg.example.com/a__b/c.d/e-f:latest",
		"busybox@sha256:" + hex64:         "docker.io/library/busybox@sha256:" + hex64,
		"busybox:1.36@sha256:" + hex64:    "docker.io/library/busybox:1.36@sha256:" + hex64,
	} {
		r, err := ParseReference(in)
		if err != nil {
			t.Errorf("ParseReference(%q): %v", in, err)
			continue
		}
		if got := r.String(); got != want {
			t.Errorf("ParseReference(%q) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{
		"", "Busybox", "busybox:", "busybox:-x", "busybox@sha256:abc", "busybox@md5:" + hex64,
		"a//b", "/busybox", "busybox/", "a..b", "a._b", "a-_b", "-a", "a-", "localhost:x/y", "bad_host.com:5000/x",
		"x:" + string(make([]byte, 129)), "a b", "a/b:c:d",
	} {
		if r, err := ParseReference(bad); err == nil {
			t.Errorf("ParseReference(%q) = %q, want an error", bad, r)
		}
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestFamiliar(t *testing.T) {
	for in, want := range map[string][2]string{
		"busybox":              {"busybox", "busybox:latest"},
		"user/repo:1":          {"user/repo", "user/repo:1"},
		"localhost:5000/x/y:2": {"localhost:5000/x/y", "localhost:5000/x/y:2"},
	} {
		r, err := ParseReference(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]string{r.FamiliarName(), r.Familiar()}; got != want {
			t.Errorf("%q: familiar %q, want %q", in, got, want)
		}
	}
}
