package network

import (
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// What is here is for speed only: the same requests "ip" sends, with fewer
// round trips to the kernel than netlink's plain calls make
// (docs/performance.md, "Fewer netlink round trips"). Each names the plain
// call it stands for; the lab (lab/06-net) writes those.

// rtnl is this process's rtnetlink socket (rtnetlink(7)). netlink's package
// functions (netlink.LinkByName, ...) open a socket for every request;
// mini sends them all on one, a netlink.Handle with the same methods. The
// host and the child have one each: a netlink socket talks to the network
// namespace it was made in. Should the socket fail, the zero Handle does
// what the package functions do.
var rtnl = sync.OnceValue(func() *netlink.Handle {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return &netlink.Handle{}
	}
	return h
})

// rtnlRaw is a second rtnetlink socket of this process, for the requests
// spelled out below with netlink's nl package, as a Handle keeps its own
// socket to itself. Should it fail, nil makes each request open one.
var rtnlRaw = sync.OnceValue(func() map[int]*nl.SocketHandle {
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil
	}
	return map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
})

// addVeth is
//
//	netlink.LinkAdd(&netlink.Veth{LinkAttrs: {Name: host, Flags: up,
//		MasterIndex: bridgeIndex}, PeerName: peer, PeerNamespace: netlink.NsPid(pid)})
//
// in one RTM_NEWLINK, as "ip link add HOST up master BRIDGE type veth peer
// name PEER netns PID" sends it: LinkAdd would look the new link up by name
// and set its master in two more requests.
func addVeth(host, peer string, bridgeIndex, pid int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.Sockets = rtnlRaw()
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC) // the host end: up
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(host)))
	req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(bridgeIndex))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	// The peer has an ifinfomsg and attributes of its own.
	peerInfo := info.AddRtAttr(nl.IFLA_INFO_DATA, nil).AddRtAttr(nl.VETH_INFO_PEER, nil)
	nl.NewIfInfomsgChild(peerInfo, unix.AF_UNSPEC)
	peerInfo.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(peer))
	peerInfo.AddRtAttr(unix.IFLA_NET_NS_PID, nl.Uint32Attr(uint32(pid)))
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// setUpIn is, with a Handle made in the namespace ns
// (netlink.NewHandleAt), LinkByName(name) then LinkSetUp: here one
// RTM_NEWLINK that names the link, on a socket made in ns.
func setUpIn(ns netns.NsHandle, name string) error {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("setns: %w", err)
	}
	defer s.Close()
	return setLink(map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}, name, true)
}

// setDown is LinkByName(name) then LinkSetDown, in one request.
func setDown(name string) error { return setLink(rtnlRaw(), name, false) }

// setLink sets the link named name up or down with one RTM_NEWLINK that
// names it (IFLA_IFNAME, no index), what "ip link set NAME up" sends:
// LinkSetUp wants the index, and a look-up by name answers with every
// attribute and counter of the link.
func setLink(sockets map[int]*nl.SocketHandle, name string, up bool) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	req.Sockets = sockets
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Change = unix.IFF_UP
	if up {
		msg.Flags = unix.IFF_UP
	}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// ifIndex is LinkByName(name).Attrs().Index as if_nametoindex(3) does it:
// the SIOCGIFINDEX ioctl(2) on any socket of this network namespace.
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
