package network

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"mini/steps"
)

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
