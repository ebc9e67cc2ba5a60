package network

import (
	"sync"

	"github.com/vishvananda/netlink"
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
