package ipam

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseSubnet(t *testing.T) {
	good := []string{"10.89.0.0/24", "10.231.7.0/24", "192.168.50.0/29", "172.20.0.0/16", "10.89.0.252/30"}
	for _, s := range good {
		p, err := ParseSubnet(s)
		if err != nil || p.String() != s {
			t.Errorf("ParseSubnet(%q) = %v, %v; want %s", s, p, err, s)
		}
	}
	bad := []struct{ in, why string }{
		{"", "want an IPv4 network"},
		{"nonsense", "want an IPv4 network"},
		{"10.89.0.0", "want an IPv4 network"},
		{"10.89.0.0/33", "want an IPv4 network"},
		{"fd00::/64", "want an IPv4 network"},
		{"10.89.0.0/31", "too small: the smallest is a /30"},
		{"10.89.0.1/32", "too small"},
		{"10.89.0.7/24", "write the network address: 10.89.0.0/24"},
		{"172.17.0.0/16", "docker's default bridge"},
		{"172.17.5.0/24", "docker's default bridge"},
		{"172.16.0.0/12", "docker's default bridge"},
		{"10.88.0.0/24", "podman's default network"},
		{"10.0.0.0/8", "podman's default network"},
		{"8.8.8.0/24", "not a private network"},
		{"0.0.0.0/0", "not a private network"},
		{"100.64.0.0/24", "not a private network"},
	}
	for _, b := range bad {
		_, err := ParseSubnet(b.in)
		if err == nil || !strings.Contains(err.Error(), b.why) {
			t.Errorf("ParseSubnet(%q) = %v; want an error with %q", b.in, err, b.why)
		}
	}
}

func TestHosts(t *testing.T) {
	for _, c := range []struct{ subnet, gw, first, last string }{
		{"10.89.0.0/24", "10.89.0.1", "10.89.0.2", "10.89.0.254"},
		{"10.89.0.252/30", "10.89.0.253", "10.89.0.254", "10.89.0.254"},
		{"172.20.0.0/16", "172.20.0.1", "172.20.0.2", "172.20.255.254"},
	} {
		p := netip.MustParsePrefix(c.subnet)
		first, last := Hosts(p)
		if Gateway(p).String() != c.gw || first.String() != c.first || last.String() != c.last {
			t.Errorf("%s: gateway %s, hosts %s..%s; want %s, %s..%s", c.subnet, Gateway(p), first, last, c.gw, c.first, c.last)
		}
	}
}
