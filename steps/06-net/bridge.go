package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"mini/steps"
)

// CheckBridgeName checks --bridge as the kernel will: an interface name is
// at most 15 bytes (IFNAMSIZ-1) and holds no '/', ':' or white space
// (dev_valid_name in net/core/dev.c).
func CheckBridgeName(name string) error {
	if name == "" || len(name) > unix.IFNAMSIZ-1 || name == "." || name == ".." {
		return fmt.Errorf("--bridge %q: an interface name has 1 to %d characters", name, unix.IFNAMSIZ-1)
	}
	for _, c := range name {
		if c == '/' || c == ':' || c <= ' ' || c > '~' {
			return fmt.Errorf("--bridge %q: use letters, digits, '-', '_' and '.' (no '/', ':' or spaces)", name)
		}
	}
	return nil
}

// checkHost looks at the host's links and routes before anything is made:
// the bridge may exist, but then it must be a bridge on this subnet, and no
// other link may route the subnet already. It runs outside the lease lock,
// while another mini may be creating the bridge: the routes are listed
// first, so that a route on the bridge means the bridge was there before the
// lookup below, which then finds it (mini never deletes it). It returns the
// bridge's index when the bridge is ready, up with the gateway address, as
// every run but the first finds it: Prepare need not look again.
func checkHost(bridge string, subnet netip.Prefix) (ready int, err error) {
	routes, err := rtnl().RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return 0, fmt.Errorf("ip route show: %w", err)
	}
	index := 0
	link, err := rtnl().LinkByName(bridge)
	switch {
	case err == nil:
		if link.Type() != "bridge" {
			return 0, fmt.Errorf("--bridge %s: the host has a link named %s that is a %s, not a bridge: choose another --bridge", bridge, bridge, kind(link))
		}
		index = link.Attrs().Index
		hasGateway, err := checkBridgeAddrs(link, subnet)
		if err != nil {
			return 0, err
		}
		if hasGateway && link.Attrs().Flags&net.FlagUp != 0 {
			ready = index
		}
	case !isNotFound(err):
		return 0, fmt.Errorf("ip link show %s: %w", bridge, err)
	}
	for _, r := range routes {
		dst, ok := netipPrefix(r.Dst)
		if !ok || dst.Bits() == 0 || r.LinkIndex == index {
			continue // the default route, or the bridge's own
		}
		if dst.Overlaps(subnet) {
			dev := fmt.Sprint(r.LinkIndex)
			if l, err := rtnl().LinkByIndex(r.LinkIndex); err == nil {
				dev = l.Attrs().Name
			}
			return 0, fmt.Errorf("--subnet %s: overlaps the host's route to %s (dev %s): choose another --subnet", subnet, dst, dev)
		}
	}
	return ready, nil
}

// checkBridgeAddrs: an existing bridge with an IPv4 address must have the
// subnet's gateway address, or its containers could not reach it. It says
// whether the bridge has it already.
func checkBridgeAddrs(link netlink.Link, subnet netip.Prefix) (hasGateway bool, err error) {
	addrs, err := rtnl().AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("ip addr show %s: %w", link.Attrs().Name, err)
	}
	want := netip.PrefixFrom(Gateway(subnet), subnet.Bits())
	for _, a := range addrs {
		if p, ok := netipPrefix(a.IPNet); ok && p != want {
			return false, fmt.Errorf("--bridge %s: the bridge has address %s, so --subnet %s does not fit: use --subnet %s or another --bridge",
				link.Attrs().Name, p, subnet, p.Masked())
		}
	}
	return len(addrs) > 0, nil
}

// ensureBridge creates the bridge if it is missing, gives it the gateway
// address and brings it up, and returns its index. The bridge stays after
// the container exits, as docker0 does: every container of the subnet
// shares it.
func ensureBridge(ctx *steps.Context, name string, subnet netip.Prefix) (index int, err error) {
	link, err := rtnl().LinkByName(name)
	if isNotFound(err) {
		ctx.Tracef("ip link add %s type bridge", name)
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		err = rtnl().LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
		if err != nil && !errors.Is(err, unix.EEXIST) { // EEXIST: another mini won the race
			return 0, fmt.Errorf("ip link add %s type bridge: %w", name, err)
		}
		link, err = rtnl().LinkByName(name)
	}
	if err != nil {
		return 0, fmt.Errorf("ip link show %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return 0, fmt.Errorf("%s is a %s, not a bridge", name, kind(link))
	}

	hasGateway, err := checkBridgeAddrs(link, subnet)
	if err != nil {
		return 0, err
	}
	if !hasGateway {
		gw := netip.PrefixFrom(Gateway(subnet), subnet.Bits())
		ctx.Tracef("ip addr add %s dev %s", gw, name)
		err := rtnl().AddrAdd(link, &netlink.Addr{IPNet: IPNet(gw)})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return 0, fmt.Errorf("ip addr add %s dev %s: %w", gw, name, err)
		}
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		ctx.Tracef("ip link set %s up", name)
		if err := rtnl().LinkSetUp(link); err != nil {
			return 0, fmt.Errorf("ip link set %s up: %w", name, err)
		}
	}
	return link.Attrs().Index, nil
}

// kind is what a link is: its kind ("veth", "dummy"), or for a link with no
// kind, such as lo or a physical NIC, its link type ("loopback", "ether").
func kind(link netlink.Link) string {
	if t := link.Type(); t != "device" {
		return t
	}
	return link.Attrs().EncapType
}

// isNotFound is true for "no such link". netlink reports it as
// LinkNotFoundError, or ENODEV when a request named the link.
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// IPNet is p as netlink takes an address: 10.89.0.1/24 is IP 10.89.0.1, mask
// 255.255.255.0. Exported for the lab (lab/06-net).
func IPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}
