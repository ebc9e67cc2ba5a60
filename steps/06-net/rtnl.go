package network

import (
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// rtnl is this process's rtnetlink socket (rtnetlink(7)). netlink's package
// functions (netlink.LinkByName, ...) open a socket for every request, and a
// run makes about a dozen; mini opens one and sends them all on it. The
// requests are the same. The host and the child have one each: a netlink
// socket talks to the network namespace it was made in. Should the socket
// fail, the zero Handle does what the package functions do.
var rtnl = sync.OnceValue(func() *netlink.Handle {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return &netlink.Handle{}
	}
	return h
})

// rtnlRaw is a second rtnetlink socket of this process, for the requests
// mini spells out with netlink's nl package, whose Handle keeps its own
// socket to itself (see addVeth and setUp). Should it fail, nil makes each
// request open a socket of its own.
var rtnlRaw = sync.OnceValue(func() map[int]*nl.SocketHandle {
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil
	}
	return map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
})

// setUp sets the link named name up or down with one RTM_NEWLINK that names
// it (IFLA_IFNAME, no index), what "ip link set NAME up" sends, on sockets
// (nil: rtnlRaw, this namespace's). netlink's LinkSetUp wants the index, and
// looking the link up by name first is a request whose answer, every
// attribute and counter of the link, costs more than the change.
func setUp(sockets map[int]*nl.SocketHandle, name string, up bool) error {
	if sockets == nil {
		sockets = rtnlRaw()
	}
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
