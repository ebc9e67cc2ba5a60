package overlay

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

func TestHostname(t *testing.T) {
	if diff := cmp.Diff("box\n", Hostname("box")); diff != "" {
		t.Errorf("Hostname (-want +got):\n%s", diff)
	}
}

func TestHosts(t *testing.T) {
	local := []string{
		"127.0.0.1\tlocalhost",
		"::1\tlocalhost ip6-localhost ip6-loopback",
		"fe00::0\tip6-localnet",
		"ff00::0\tip6-mcastprefix",
		"ff02::1\tip6-allnodes",
		"ff02::2\tip6-allrouters",
	}
	for _, tc := range []struct {
		name                string
		ip, host, cname, id string
		want                []string
	}{
		{"no address (--net none)", "", "box", "web", "0123456789ab", local},
		{"address, default name", "10.89.0.2/24", "0123456789ab", "0123456789ab", "0123456789ab",
			append(local, "10.89.0.2\t0123456789ab")},
		{"address, hostname and a name", "10.89.0.7/24", "box", "web", "0123456789ab",
			append(local, "10.89.0.7\tbox web")},
		{"name same as hostname", "10.89.0.7/24", "web", "web", "0123456789ab",
			append(local, "10.89.0.7\tweb")},
		{"address without prefix", "10.89.0.9", "box", "", "0123456789ab",
			append(local, "10.89.0.9\tbox")},
	} {
		got := strings.Split(strings.TrimSuffix(Hosts(tc.ip, tc.host, tc.cname, tc.id), "\n"), "\n")
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: Hosts (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestResolvConf(t *testing.T) {
	const header = "# Made by mini from the host's /etc/resolv.conf: loopback and IPv6 nameservers dropped."
	const fallback = "# The host has no nameserver a container can reach: docker's fallback."
	for _, tc := range []struct {
		name string
		host string
		want []string
	}{
		{"a LAN resolver is kept with search and options",
			"# from DHCP\nsearch example.org\nnameserver 192.168.1.1\noptions ndots:2 edns0\n",
			[]string{header, "# from DHCP", "search example.org", "nameserver 192.168.1.1", "options ndots:2 edns0"}},
		{"systemd-resolved's stub alone: fallback",
			"nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n",
			[]string{header, "options edns0 trust-ad", "search .", fallback, "nameserver 8.8.8.8", "nameserver 8.8.4.4"}},
		{"loopback and IPv6 dropped, the rest kept",
			"nameserver 127.0.0.1\nnameserver ::1\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver 2001:db8::53\nnameserver 127.1.2.3\nnameserver 1.1.1.1",
			[]string{header, "nameserver 10.0.0.2", "nameserver 1.1.1.1"}},
		{"IPv4-mapped IPv6 is IPv4",
			"nameserver ::ffff:10.1.2.3\n",
			[]string{header, "nameserver ::ffff:10.1.2.3"}},
		{"no host file",
			"",
			[]string{header, fallback, "nameserver 8.8.8.8", "nameserver 8.8.4.4"}},
		{"tabs and a bad address",
			"nameserver\t127.0.0.11\nnameserver not-an-address\n",
			[]string{header, "nameserver not-an-address"}},
	} {
		got := strings.Split(strings.TrimSuffix(ResolvConf(tc.host), "\n"), "\n")
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: ResolvConf (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestOnlyResolvedStub(t *testing.T) {
	for text, want := range map[string]bool{
		"nameserver 127.0.0.53\noptions edns0\n":       true,
		"nameserver 127.0.0.53\nnameserver 10.0.0.1\n": false,
		"nameserver 127.0.0.1\n":                       false,
		"":                                             false,
	} {
		if got := onlyResolvedStub(text); got != want {
			t.Errorf("onlyResolvedStub(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestInitFiles(t *testing.T) {
	const hostResolv = "nameserver 127.0.0.53\n"
	const hostHosts = "127.0.0.1\tlocalhost\n127.0.1.1\tlaptop\n"
	spec := &steps.Spec{ID: "0123456789ab", Name: "web", Hostname: "box", Net: "bridge", IP: "10.89.0.3/24"}
	got := initFiles(spec, hostResolv, hostHosts)
	want := []initFile{
		{"/etc/hostname", "box\n"},
		{"/etc/hosts", hostsLocal + "10.89.0.3\tbox web\n"},
		{"/etc/resolv.conf", ResolvConf(hostResolv)},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(initFile{})); diff != "" {
		t.Errorf("bridge: initFiles (-want +got):\n%s", diff)
	}

	// On the host's network the host's resolver on lo is reachable: the
	// host's files are copied as they are, as docker does.
	spec.Net, spec.IP = "host", ""
	got = initFiles(spec, hostResolv, hostHosts)
	want = []initFile{
		{"/etc/hostname", "box\n"},
		{"/etc/hosts", hostHosts},
		{"/etc/resolv.conf", hostResolv},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(initFile{})); diff != "" {
		t.Errorf("host: initFiles (-want +got):\n%s", diff)
	}
}
