package network

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"mini/steps"
)

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

// addVeth creates the container's veth pair: the host end, up and attached
// to the bridge, and its peer created directly inside the network namespace
// of pid, named eth0. There is never a moment when both ends are on the
// host: if mini dies, the container's namespace goes, and with it the peer,
// which takes the host end along (veth(4)).
//
// It is one RTM_NEWLINK request, the one "ip link add" sends, spelled out
// with netlink's nl package: netlink.LinkAdd would send the bridge
// (IFLA_MASTER) in a second request, after looking the new link up by name,
// three round trips where the kernel needs one.
func addVeth(ctx *steps.Context, host, peer, bridge string, bridgeIndex, pid int) error {
	ctx.Tracef("ip link add %s up master %s type veth peer name %s netns %d", host, bridge, peer, pid)
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.Sockets = rtnlRaw()
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC) // the host end: up
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(host)))
	req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(bridgeIndex))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	// The peer has an ifinfomsg and attributes of its own. It cannot be
	// made up here: a veth opens only once its peer is linked to it, after
	// both are configured (ENOTCONN), so upPeer does that.
	peerInfo := info.AddRtAttr(nl.IFLA_INFO_DATA, nil).AddRtAttr(nl.VETH_INFO_PEER, nil)
	nl.NewIfInfomsgChild(peerInfo, unix.AF_UNSPEC)
	peerInfo.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(peer))
	peerInfo.AddRtAttr(unix.IFLA_NET_NS_PID, nl.Uint32Attr(uint32(pid)))
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("ip link add %s type veth peer name %s netns %d: %w", host, peer, pid, err)
	}
	return nil
}

// upPeer brings the container's end up from the host, inside the child's
// network namespace: a netlink socket made after setns(2) into
// /proc/PID/ns/net talks to that namespace, as "nsenter --net=/proc/PID/ns/net
// ip link set eth0 up" does. The host does it, not the child, because only
// the host can then wait for the bridge to be ready (see AwaitUp).
func upPeer(ctx *steps.Context, pid int, peer string) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("open /proc/%d/ns/net: %w", pid, err)
	}
	defer ns.Close()
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("setns /proc/%d/ns/net: %w", pid, err)
	}
	defer s.Close()
	ctx.Tracef("nsenter --net=/proc/%d/ns/net ip link set %s up", pid, peer)
	if err := setUp(map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}, peer, true); err != nil {
		return fmt.Errorf("nsenter --net=/proc/%d/ns/net ip link set %s up: %w", pid, peer, err)
	}
	return nil
}

// AwaitUp returns once each link is operationally up. A link that gains its
// carrier (the veth, once its peer is up; the bridge, once a port forwards)
// is not ready at once: the kernel's linkwatch worker applies the change a
// moment later, at most a second later when it is busy, and until then the
// bridge port drops what the container sends. A command that sent a packet
// at once would lose it and wait for a retry (docker has the same race,
// moby#16114). Asking for the link (RTM_GETLINK) runs the pending work at
// once on Linux 6.7 and later; older kernels announce it with an
// RTM_NEWLINK, which this waits for, at most a second. Exported for the lab
// (lab/06-net), whose Attach ends with it.
func AwaitUp(ctx *steps.Context, names ...string) error {
	// Listen first, then look: a change between the two is not missed.
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("socket(AF_NETLINK): %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (unix.RTNLGRP_LINK - 1)}); err != nil {
		return fmt.Errorf("bind netlink RTNLGRP_LINK: %w", err)
	}
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("setsockopt SO_RCVTIMEO: %w", err)
	}

	waiting := map[int]string{}
	for _, name := range names {
		link, err := rtnl().LinkByName(name)
		if err != nil {
			return fmt.Errorf("ip link show %s: %w", name, err)
		}
		if link.Attrs().OperState != netlink.OperUp {
			waiting[link.Attrs().Index] = name
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	ctx.Tracef("ip monitor link: wait until %v are up", waiting)
	buf := make([]byte, 1<<16)
	for len(waiting) > 0 {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) {
			// Go on, as docker does: the first packets may be lost.
			ctx.Tracef("still not up after a second: %v", waiting)
			return nil
		}
		if errors.Is(err, unix.ENOBUFS) {
			// Too many events at once (many containers starting): some
			// were dropped, ours perhaps. Look again.
			for index := range waiting {
				if l, err := rtnl().LinkByIndex(index); err == nil && l.Attrs().OperState == netlink.OperUp {
					delete(waiting, index)
				}
			}
			continue
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("recvfrom netlink: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("parse netlink message: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.RTM_NEWLINK {
				continue
			}
			link, err := netlink.LinkDeserialize(nil, m.Data)
			if err == nil && link.Attrs().OperState == netlink.OperUp {
				delete(waiting, link.Attrs().Index)
			}
		}
	}
	return nil
}

// downVeth takes the host end down, if the kernel has not deleted it yet.
// The kernel destroys a veth pair when the namespace of either end is freed
// (veth(4)): a kernel worker does it a few milliseconds after the container's
// last process exits, and "ip monitor link" shows the RTM_DELLINK. Until then
// the old eth0 still holds the address and would answer ARP for it on the
// bridge; with the host end down it is cut off, so the address can be leased
// again at once. Deleting the link ourselves would cost a synchronize_net()
// in the kernel: tens of milliseconds, ten times the rest of this step.
func downVeth(ctx *steps.Context, name string) error {
	ctx.Tracef("ip link set %s down (the kernel deletes the pair with the container's namespace)", name)
	if err := setUp(nil, name, false); err != nil && !isNotFound(err) {
		return fmt.Errorf("ip link set %s down: %w", name, err)
	}
	return nil
}

// delVeth deletes a host veth if it is still there; deleting one end of a
// pair deletes both.
func delVeth(ctx *steps.Context, name string) error {
	link, err := rtnl().LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ip link show %s: %w", name, err)
	}
	ctx.Tracef("ip link del %s", name)
	if err := rtnl().LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("ip link del %s: %w", name, err)
	}
	return nil
}
