package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"mini/steps"
	"mini/steps/06-net/internal/ipam"
	"mini/steps/06-net/internal/routes"
)

// Validate checks the flags, and in bridge mode the host's links and routes,
// before anything is made.
func (Step) Validate(ctx *steps.Context) error {
	s := ctx.Spec
	if s.OCI != nil {
		// An OCI container's network namespace is new with lo alone, or
		// joined by path: the bridge is not used.
		return nil
	}
	switch {
	case s.Net == Bridge, s.Net == None, s.Net == Host:
	case IsContainer(s.Net):
		if err := checkContainer(s); err != nil {
			return err
		}
	default:
		return fmt.Errorf("--net %q: want bridge, none, host or container:NAME", s.Net)
	}
	if err := checkPorts(s); err != nil {
		return err
	}
	subnet, err := ipam.ParseSubnet(s.Subnet)
	if err != nil {
		return err
	}
	if err := CheckBridgeName(s.Bridge); err != nil {
		return err
	}
	if s.Net != Bridge {
		return nil
	}
	// An unprivileged user may make a network namespace (inside a user
	// namespace, step 5), so none and host work rootless; but only root in
	// the host's namespace may add a bridge and a veth to it.
	if s.Rootless {
		return errors.New("step 6 (net) needs root to create the bridge and the veth pair: run with sudo, or use --net none, --net host or --step 5")
	}
	s.BridgeIndex, err = checkHost(s.Bridge, subnet)
	return err
}

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
// while another mini may be creating the bridge; a route is the bridge's own
// by its device's name, whenever the bridge was made. It returns the
// bridge's index when the bridge is ready, up with the gateway address, as
// every run but the first finds it: Prepare need not look again (a bridge
// that is ready stays so: mini never takes one down).
func checkHost(bridge string, subnet netip.Prefix) (ready int, err error) {
	link, hasGateway, err := lookBridge(bridge, subnet)
	if err != nil {
		return 0, err
	}
	if link != nil && hasGateway && link.Attrs().Flags&net.FlagUp != 0 {
		ready = link.Attrs().Index
	}
	table, err := routes.Host()
	if err != nil {
		return 0, err
	}
	for _, r := range table {
		if r.Dst.Bits() == 0 || r.Dev == bridge {
			continue // the default route, or the bridge's own
		}
		if r.Dst.Overlaps(subnet) {
			return 0, fmt.Errorf("--subnet %s: overlaps the host's route to %s (dev %s): choose another --subnet", subnet, r.Dst, r.Dev)
		}
	}
	return ready, nil
}

// lookBridge finds the link named bridge, nil if there is none, and checks
// that it is a bridge that fits the subnet (checkBridgeAddrs): checkHost
// looks before anything is made, ensureBridge again under the lease lock.
func lookBridge(bridge string, subnet netip.Prefix) (link netlink.Link, hasGateway bool, err error) {
	link, err = rtnl().LinkByName(bridge)
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("ip link show %s: %w", bridge, err)
	}
	if link.Type() != "bridge" {
		return nil, false, fmt.Errorf("--bridge %s: the host has a link named %s that is a %s, not a bridge: choose another --bridge", bridge, bridge, kind(link))
	}
	hasGateway, err = checkBridgeAddrs(link, subnet)
	if err != nil {
		return nil, false, err
	}
	return link, hasGateway, nil
}

// checkBridgeAddrs: an existing bridge with an IPv4 address must have the
// subnet's gateway address, or its containers could not reach it. It says
// whether the bridge has it already.
func checkBridgeAddrs(link netlink.Link, subnet netip.Prefix) (hasGateway bool, err error) {
	addrs, err := rtnl().AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("ip addr show %s: %w", link.Attrs().Name, err)
	}
	want := netip.PrefixFrom(ipam.Gateway(subnet), subnet.Bits())
	for _, a := range addrs {
		if p, ok := netipPrefix(a.IPNet); ok && p != want {
			return false, fmt.Errorf("--bridge %s: the bridge has address %s, so --subnet %s does not fit: use --subnet %s or another --bridge",
				link.Attrs().Name, p, subnet, p.Masked())
		}
	}
	return len(addrs) > 0, nil
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
