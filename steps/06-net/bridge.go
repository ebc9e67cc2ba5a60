package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

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
// while another mini may be creating the bridge; a route is the bridge's own
// by its device's name, whenever the bridge was made. It returns the
// bridge's index when the bridge is ready, up with the gateway address, as
// every run but the first finds it: Prepare need not look again.
func checkHost(bridge string, subnet netip.Prefix) (ready int, err error) {
	link, hasGateway, err := lookBridge(bridge, subnet)
	if err != nil {
		return 0, err
	}
	if link != nil && hasGateway && link.Attrs().Flags&net.FlagUp != 0 {
		ready = link.Attrs().Index
	}
	routes, err := hostRoutes()
	if err != nil {
		return 0, err
	}
	for _, r := range routes {
		if r.dst.Bits() == 0 || r.dev == bridge {
			continue // the default route, or the bridge's own
		}
		if r.dst.Overlaps(subnet) {
			return 0, fmt.Errorf("--subnet %s: overlaps the host's route to %s (dev %s): choose another --subnet", subnet, r.dst, r.dev)
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

// route is one route of the host's main IPv4 table: where to, and on which
// device.
type route struct {
	dst netip.Prefix
	dev string
}

// hostRoutes reads the host's main IPv4 table from /proc/net/route
// (proc(5)), what "route -n" prints: a line a route, its device first, then
// destination, gateway, flags, ..., and mask, the addresses in hex as the
// kernel keeps them, network byte order read as an integer of this machine.
// The same routes as "ip -4 route", without the netlink request.
func hostRoutes() ([]route, error) {
	const path = "/proc/net/route"
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	routes, err := parseRoutes(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return routes, nil
}

// parseRoutes reads the lines of /proc/net/route.
func parseRoutes(data string) ([]route, error) {
	var out []route
	for _, line := range strings.Split(data, "\n")[1:] { // after the header
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		dst, err := procAddr(f[1])
		if err != nil {
			return nil, fmt.Errorf("destination %q: %w", f[1], err)
		}
		mask, err := procAddr(f[7])
		if err != nil {
			return nil, fmt.Errorf("mask %q: %w", f[7], err)
		}
		m := mask.As4()
		bits := 0
		for _, b := range m {
			for ; b&0x80 != 0; b <<= 1 {
				bits++
			}
		}
		out = append(out, route{dst: netip.PrefixFrom(dst, bits), dev: f[0]})
	}
	return out, nil
}

// procAddr reads an IPv4 address as /proc/net/route writes it.
func procAddr(hex string) (netip.Addr, error) {
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return netip.Addr{}, err
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), nil
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
// address, brings it up and opens the way out (enableEgress), and returns
// its index. The bridge stays after
// the container exits, as docker0 does: every container of the subnet
// shares it.
func ensureBridge(ctx *steps.Context, name string, subnet netip.Prefix) (index int, err error) {
	link, hasGateway, err := lookBridge(name, subnet)
	if err == nil && link == nil {
		ctx.Tracef("ip link add %s type bridge", name)
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		err = rtnl().LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
		if err != nil && !errors.Is(err, unix.EEXIST) { // EEXIST: another mini won the race
			return 0, fmt.Errorf("ip link add %s type bridge: %w", name, err)
		}
		link, hasGateway, err = lookBridge(name, subnet)
		if err == nil && link == nil {
			err = fmt.Errorf("ip link show %s: gone after ip link add", name)
		}
	}
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
	// The way out, beyond the bridge (nat.go).
	if err := enableEgress(ctx, name, subnet); err != nil {
		return 0, err
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
