package ipam

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// MaxPrefix is the smallest network mini accepts: a /30 has four addresses,
// the network, the gateway, one container and the broadcast address.
const MaxPrefix = 30

// private are the ranges of RFC 1918. The bridge's subnet must lie inside
// one: its address adds a route on the host, and a public range would hide
// real hosts behind it.
var private = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// taken are the default networks of other runtimes on the same machine.
var taken = []struct {
	prefix netip.Prefix
	owner  string
}{
	{netip.MustParsePrefix("172.17.0.0/16"), "docker's default bridge (docker0)"},
	{netip.MustParsePrefix("10.88.0.0/16"), "podman's default network (podman0)"},
}

// ParseSubnet reads --subnet: an IPv4 network in CIDR form, written as its
// network address (10.89.0.0/24, not 10.89.0.7/24), private, at least a /30,
// and clear of docker's and podman's defaults.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("--subnet %q: want an IPv4 network in CIDR form, such as 10.89.0.0/24", s)
	}
	if p.Bits() > MaxPrefix {
		return netip.Prefix{}, fmt.Errorf("--subnet %s: too small: the smallest is a /%d (a gateway and one container)", s, MaxPrefix)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("--subnet %s: write the network address: %s", s, p.Masked())
	}
	inside := false
	for _, r := range private {
		inside = inside || r.Bits() <= p.Bits() && r.Contains(p.Addr())
	}
	if !inside {
		return netip.Prefix{}, fmt.Errorf("--subnet %s: not a private network: use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16", s)
	}
	for _, t := range taken {
		if t.prefix.Overlaps(p) {
			return netip.Prefix{}, fmt.Errorf("--subnet %s: overlaps %s, %s: choose another", s, t.prefix, t.owner)
		}
	}
	return p, nil
}

// Gateway is the bridge's address: the first one after the network address.
func Gateway(subnet netip.Prefix) netip.Addr {
	return subnet.Addr().Next()
}

// Hosts are the addresses a container may get: after the gateway, before
// the broadcast address.
func Hosts(subnet netip.Prefix) (first, last netip.Addr) {
	a := subnet.Addr().As4()
	n := binary.BigEndian.Uint32(a[:]) | (1<<(32-subnet.Bits()) - 1)
	binary.BigEndian.PutUint32(a[:], n)
	return Gateway(subnet).Next(), netip.AddrFrom4(a).Prev()
}
