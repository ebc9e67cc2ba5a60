package network

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"mini/steps"
)

// loUp brings up the loopback link. A new network namespace has lo, down
// and without 127.0.0.1 until it is up (network_namespaces(7)).
func loUp(ctx *steps.Context) error {
	// A new network namespace has lo as its first link: index 1
	// (LOOPBACK_IFINDEX, include/net/net_namespace.h), so no lookup.
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo", Index: 1}}
	ctx.Tracef("ip link set lo up")
	if err := rtnl().LinkSetUp(lo); err != nil {
		return fmt.Errorf("ip link set lo up: %w", err)
	}
	return nil
}

// configure gives the container's end of the veth its address and routes
// everything through the gateway, the bridge's address. The host has
// brought the link up already (see upPeer).
func configure(ctx *steps.Context, ifname string, addr netip.Prefix, gateway netip.Addr) error {
	index, err := ifIndex(ifname)
	if err != nil {
		return err
	}
	link := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: ifname, Index: index}}
	ctx.Tracef("ip addr add %s dev %s", addr, ifname)
	if err := rtnl().AddrAdd(link, &netlink.Addr{IPNet: IPNet(addr)}); err != nil {
		return fmt.Errorf("ip addr add %s dev %s: %w", addr, ifname, err)
	}
	ctx.Tracef("ip route add default via %s dev %s", gateway, ifname)
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(gateway.AsSlice())}
	if err := rtnl().RouteAdd(route); err != nil {
		return fmt.Errorf("ip route add default via %s dev %s: %w", gateway, ifname, err)
	}
	return nil
}

// ifIndex is if_nametoindex(3): the index of the link named name, from the
// SIOCGIFINDEX ioctl(2) on any socket of this network namespace. A netlink
// look-up by name would answer with every attribute and counter of the link.
func ifIndex(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("socket(AF_INET): %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("interface %q: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("ioctl(SIOCGIFINDEX, %s): %w", name, err)
	}
	return int(ifr.Uint32()), nil
}
