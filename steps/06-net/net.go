// Package network is step 6: a network namespace gives the container its own
// links, addresses and routes; a veth pair and a host bridge connect it, as
// docker's default bridge network does. Links are made with netlink(7), the
// requests "ip" sends; each trace line shows the "ip" command. See
// network_namespaces(7), veth(4) and docs/06-net.md.
//
// This file is the lesson, in the order a run takes: the namespace, the
// bridge and its address, the veth pair, and inside the container lo, the
// address and the route. Beside it: check.go (Validate: the flags and the
// host's links and routes), lease.go (the container's address, through
// internal/ipam), linkwatch.go (the wait until the bridge forwards),
// roundtrips.go (requests spelled out with fewer round trips than the
// library's calls), nat.go (the way out), container.go (--net
// container:NAME) and ports.go (-p).
package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"mini/steps"
	"mini/steps/06-net/internal/ipam"
)

// Step is step 6.
type Step struct{}

func (Step) Number() int  { return 6 }
func (Step) Name() string { return "net" }

// The modes of --net, docker's names.
const (
	Bridge = "bridge" // own namespace, a veth on the host bridge (default)
	None   = "none"   // own namespace with lo only
	Host   = "host"   // no namespace: the host's links, addresses and routes
	// and container:NAME, another container's namespace (container.go)
)

// ifName is the name of the container's end of the veth.
const ifName = "eth0"

// CloneFlags: a new network namespace, except for --net host.
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	if ctx.Spec.Net == Host {
		ctx.Tracef("no CLONE_NEWNET: --net host shares the host's network namespace")
		return 0
	}
	if IsContainer(ctx.Spec.Net) || ctx.Spec.OCI.JoinPath("net") != "" {
		ctx.Tracef("no CLONE_NEWNET: the child is born in the namespace this thread joined")
		return 0
	}
	ctx.Tracef("CLONE_NEWNET: a new network namespace, with lo only, down")
	return unix.CLONE_NEWNET
}

// Prepare leases an address and makes sure the bridge is there, both under
// the lease lock: many mini processes may start at once. Then it binds the
// published ports (ports.go).
func (Step) Prepare(ctx *steps.Context) error {
	s := ctx.Spec
	if IsContainer(s.Net) {
		return joinOther(ctx)
	}
	if path := s.OCI.JoinPath("net"); path != "" {
		return steps.JoinNS(ctx, unix.CLONE_NEWNET, path)
	}
	if s.Net != Bridge {
		return nil
	}
	if err := takeLease(ctx); err != nil {
		return err
	}
	return publish(ctx)
}

// ensureBridge makes the bridge if it is missing, gives it the gateway
// address, brings it up and opens the way out (nat.go), and returns its
// index. The bridge stays after the container exits, as docker0 does:
// every container of the subnet shares it.
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
		gw := netip.PrefixFrom(ipam.Gateway(subnet), subnet.Bits())
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
	if err := enableEgress(ctx, name, subnet); err != nil {
		return 0, err
	}
	return link.Attrs().Index, nil
}

// Attach creates the veth pair, the host end on the bridge and its peer,
// eth0, directly inside the child's namespace: there is never a moment
// when both ends are on the host for a SIGKILL to leave behind (if mini
// dies, the container's namespace goes, and with it the pair, veth(4)).
// Then it brings eth0 up and waits until the bridge forwards: the command
// may send its first packet as soon as it starts.
func (Step) Attach(ctx *steps.Context, pid int) error {
	s := ctx.Spec
	if IsContainer(s.Net) || s.OCI.JoinPath("net") != "" {
		return steps.LeaveNS(ctx, unix.CLONE_NEWNET)
	}
	if s.Net != Bridge {
		return nil
	}
	host := VethName(s.ID)
	ctx.Tracef("ip link add %s up master %s type veth peer name %s netns %d", host, s.Bridge, s.IfName, pid)
	if err := addVeth(host, s.IfName, s.BridgeIndex, pid); err != nil {
		return fmt.Errorf("ip link add %s type veth peer name %s netns %d: %w", host, s.IfName, pid, err)
	}
	if err := upPeer(ctx, pid, s.IfName); err != nil {
		return err
	}
	return AwaitUp(ctx, host, s.Bridge)
}

// VethName is the host end of a container's veth pair: "mini" and the first
// 11 digits of the container id, 15 bytes, the most an interface name may
// have. It is unique as the id is, and says whose it is in "ip link".
// Exported for the lab (lab/06-net), whose Attach names the veth with it.
func VethName(id string) string {
	if len(id) > 11 {
		id = id[:11]
	}
	return "mini" + id
}

// upPeer brings the container's end up from the host, inside the child's
// network namespace: a netlink socket made after setns(2) into
// /proc/PID/ns/net talks to that namespace, as "nsenter --net=/proc/PID/ns/net
// ip link set eth0 up" does. The host does it, not the child, because only
// the host can then wait for the bridge to be ready (AwaitUp). A veth
// cannot be made up with its peer in one request: it opens only once its
// peer is linked to it (ENOTCONN).
func upPeer(ctx *steps.Context, pid int, peer string) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("open /proc/%d/ns/net: %w", pid, err)
	}
	defer ns.Close()
	ctx.Tracef("nsenter --net=/proc/%d/ns/net ip link set %s up", pid, peer)
	if err := setUpIn(ns, peer); err != nil {
		return fmt.Errorf("nsenter --net=/proc/%d/ns/net ip link set %s up: %w", pid, peer, err)
	}
	return nil
}

// Init runs in the child, inside its network namespace: lo up, and in bridge
// mode eth0's address and the default route.
func (Step) Init(ctx *steps.Context) error {
	s := ctx.Spec
	if s.Net == Host || IsContainer(s.Net) || s.OCI.JoinPath("net") != "" {
		return nil
	}
	// A new network namespace has lo, down and without 127.0.0.1 until it
	// is up (network_namespaces(7)); its index is 1 in every namespace
	// (LOOPBACK_IFINDEX), so no lookup.
	ctx.Tracef("ip link set lo up")
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo", Index: 1}}
	if err := rtnl().LinkSetUp(lo); err != nil {
		return fmt.Errorf("ip link set lo up: %w", err)
	}
	if s.Net != Bridge {
		return nil
	}
	addr, gw, err := Leased(s)
	if err != nil {
		return err
	}
	index, err := ifIndex(s.IfName)
	if err != nil {
		return err
	}
	eth := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: s.IfName, Index: index}}
	ctx.Tracef("ip addr add %s dev %s", addr, s.IfName)
	if err := rtnl().AddrAdd(eth, &netlink.Addr{IPNet: IPNet(addr)}); err != nil {
		return fmt.Errorf("ip addr add %s dev %s: %w", addr, s.IfName, err)
	}
	// An address may be added to a link that is down, a route through it
	// may not: the host brought eth0 up in Attach.
	ctx.Tracef("ip route add default via %s dev %s", gw, s.IfName)
	if err := rtnl().RouteAdd(&netlink.Route{LinkIndex: index, Gw: net.IP(gw.AsSlice())}); err != nil {
		return fmt.Errorf("ip route add default via %s dev %s: %w", gw, s.IfName, err)
	}
	return nil
}

// IPNet is p as netlink takes an address: 10.89.0.1/24 is IP 10.89.0.1, mask
// 255.255.255.0. Exported for the lab (lab/06-net).
func IPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

// Cleanup closes the published ports, cuts the host veth off the bridge
// and releases the lease. Prepare or Attach may have stopped half-way: each
// part is a no-op then.
//
// The kernel destroys a veth pair when the namespace of either end is freed
// (veth(4)), a few milliseconds after the container's last process exits.
// Until then the old eth0 still holds the address and would answer ARP for
// it; with the host end down it is cut off, so the address can be leased
// again at once. mini does not delete the link: that waits in the kernel
// for synchronize_net() (docs/performance.md).
func (Step) Cleanup(ctx *steps.Context) error {
	s := ctx.Spec
	if IsContainer(s.Net) || s.OCI.JoinPath("net") != "" {
		return steps.LeaveNS(ctx, unix.CLONE_NEWNET) // if the run stopped before Attach
	}
	if s.Net != Bridge {
		return nil
	}
	unpublish(ctx)
	host := VethName(s.ID)
	ctx.Tracef("ip link set %s down (the kernel deletes the pair with the container's namespace)", host)
	var vethErr error
	if err := setDown(host); err != nil && !isNotFound(err) {
		vethErr = fmt.Errorf("ip link set %s down: %w", host, err)
	}
	return errors.Join(vethErr, releaseLease(ctx))
}
