package network

import "testing"

func TestParsePort(t *testing.T) {
	for in, want := range map[string]string{
		"8080:80":              "0.0.0.0:8080->80/tcp",
		"127.0.0.1:8080:80":    "127.0.0.1:8080->80/tcp",
		"53:53/udp":            "0.0.0.0:53->53/udp",
		"10.0.0.1:1:65535/tcp": "10.0.0.1:1->65535/tcp",
		"[127.0.0.1]:8080:80":  "127.0.0.1:8080->80/tcp",
	} {
		p, err := ParsePort(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePort(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"80", "", ":80", "8080:", "0:80", "8080:70000", "x:80", "1.2.3:80:80", "::1:80:80", "80:80/sctp", "a:b:c:d"} {
		if p, err := ParsePort(in); err == nil {
			t.Errorf("ParsePort(%q) = %v, want an error", in, p)
		}
	}
}
