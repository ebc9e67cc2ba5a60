package overlay

// Given: not part of the exercise. A copy of mini's
// steps/08-overlay/initlayer.go, less what you write, kept equal to it by
// lab/given_test.go (go test ./lab -update).

import (
	"net/netip"
	"os"
	"strings"
)

// hostsLocal is docker's /etc/hosts before the container's own line.
const hostsLocal = "127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"ff00::0\tip6-mcastprefix\n" +
	"ff02::1\tip6-allnodes\n" +
	"ff02::2\tip6-allrouters\n"

// fallbackNameservers are used when the host has no nameserver a container
// can reach: docker's choice (Google's public resolvers), kept so that mini
// behaves as the docker a learner knows. docs/08-overlay.md says so.
var fallbackNameservers = []string{"8.8.8.8", "8.8.4.4"}

// Hostname is /etc/hostname: the hostname and a newline.
func Hostname(hostname string) string {
	return hostname + "\n"
}

// Hosts is /etc/hosts: the localhost lines, then the container's address
// with its hostname (and its --name, when it has one of its own) if step 6
// gave it an address. ip is in CIDR form ("10.89.0.2/24") or empty.
func Hosts(ip, hostname, name, id string) string {
	if ip == "" {
		return hostsLocal
	}
	addr := ip
	if p, err := netip.ParsePrefix(ip); err == nil {
		addr = p.Addr().String()
	}
	line := addr + "\t" + hostname
	if name != "" && name != hostname && name != id {
		line += " " + name
	}
	return hostsLocal + line + "\n"
}

// ResolvConf derives the container's /etc/resolv.conf from the host's, as
// docker does for a container with a network namespace of its own: every
// line is kept except nameservers the container cannot reach. A loopback
// nameserver (127.0.0.53 of systemd-resolved, 127.0.0.1 of dnsmasq, ::1)
// answers on the host's lo, and the container's lo is another one. An IPv6
// nameserver is dropped too: mini's bridge network has no IPv6 route (docker
// does the same on a network without IPv6). If no nameserver is left, the
// fallback ones are added.
func ResolvConf(host string) string {
	var b strings.Builder
	b.WriteString("# Made by mini from the host's /etc/resolv.conf: loopback and IPv6 nameservers dropped.\n")
	kept := 0
	for _, line := range strings.SplitAfter(host, "\n") {
		if line == "" {
			continue
		}
		if ns, ok := nameserver(line); ok {
			if !reachable(ns) {
				continue
			}
			kept++
		}
		b.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			b.WriteString("\n")
		}
	}
	if kept == 0 {
		b.WriteString("# The host has no nameserver a container can reach: docker's fallback.\n")
		for _, ns := range fallbackNameservers {
			b.WriteString("nameserver " + ns + "\n")
		}
	}
	return b.String()
}

// nameserver returns the address of a "nameserver ADDR" line.
func nameserver(line string) (string, bool) {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "nameserver" {
		return "", false
	}
	return f[1], true
}

// reachable says whether a container behind mini's IPv4 bridge can reach
// the nameserver at addr. An address that does not parse is kept: the
// resolver will say what it thinks of it.
func reachable(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return true
	}
	return !a.IsLoopback() && a.Unmap().Is4()
}

// resolvedStub is systemd-resolved's local stub; resolvedUpstream is the
// file where it lists the servers it forwards to. Docker reads the latter
// when the host's resolv.conf names only the stub, and so does mini.
const (
	resolvedStub     = "127.0.0.53"
	resolvedUpstream = "/run/systemd/resolve/resolv.conf"
)

// onlyResolvedStub says whether resolv.conf text names systemd-resolved's
// stub as its one nameserver.
func onlyResolvedStub(text string) bool {
	var servers []string
	for _, line := range strings.Split(text, "\n") {
		if ns, ok := nameserver(line); ok {
			servers = append(servers, ns)
		}
	}
	return len(servers) == 1 && servers[0] == resolvedStub
}

// hostResolvConf reads the host's resolv.conf (path), or the upstream list
// of systemd-resolved when path names only its stub. A host without one
// gives "": the container then gets the fallback nameservers.
func hostResolvConf(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if onlyResolvedStub(string(data)) {
		if up, err := os.ReadFile(resolvedUpstream); err == nil {
			return string(up)
		}
	}
	return string(data)
}
