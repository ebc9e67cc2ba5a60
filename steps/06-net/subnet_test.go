package network

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
		first, last := hosts(p)
		if Gateway(p).String() != c.gw || first.String() != c.first || last.String() != c.last {
			t.Errorf("%s: gateway %s, hosts %s..%s; want %s, %s..%s", c.subnet, Gateway(p), first, last, c.gw, c.first, c.last)
		}
	}
}

func TestCheckBridgeName(t *testing.T) {
	for _, ok := range []string{"mini0", "br-test_1.a", "fifteen-chars-x"} {
		if err := CheckBridgeName(ok); err != nil {
			t.Errorf("CheckBridgeName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "sixteen-chars-xx", "a/b", "a:b", "a b", ".", ".."} {
		if err := CheckBridgeName(bad); err == nil {
			t.Errorf("CheckBridgeName(%q) = nil, want an error", bad)
		}
	}
}

func TestVethName(t *testing.T) {
	if got := VethName("0123456789ab"); got != "mini0123456789a" || len(got) > 15 {
		t.Errorf("VethName = %q, want mini0123456789a (at most 15 bytes)", got)
	}
}

func TestParseRoutes(t *testing.T) {
	// /proc/net/route of a little-endian host (amd64, arm64: the kernel
	// prints the addresses as native integers): a default route, the
	// subnet of eth0, and a bridge's /24.
	data := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"mini0\t0000590A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	got, err := parseRoutes(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []route{
		{dst: netip.MustParsePrefix("0.0.0.0/0"), dev: "eth0"},
		{dst: netip.MustParsePrefix("192.0.2.0/24"), dev: "eth0"},
		{dst: netip.MustParsePrefix("10.89.0.0/24"), dev: "mini0"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(route{}), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("parseRoutes (-want +got):\n%s", diff)
	}
}
