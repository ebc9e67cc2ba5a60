// Package network is your step 6: a network namespace, a veth pair and the
// host's bridge. Checking the flags, leasing an address, making the bridge
// and cleaning up are mini's own; you write what creates and configures the
// links. Fill in the TODOs in order; after each one, run
//
//	sudo bin/mini run --step 6 --lab rootfs/busybox sh -c 'ip addr; ip route; ping -c 1 $(ip route | cut -d" " -f3)'
//
// and the error tells you the next TODO. Then check your work against the
// scenarios mini itself must pass:
//
//	sudo make lab-check STEP=6
//
// The exercise is lab/06-net/README.md; mini's own version, the solution, is
// steps/06-net/net.go.
package network

import (
	"errors"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"mini/steps"
	ref "mini/steps/06-net"
)

// Step is your step 6. It embeds mini's own, so the hooks you do not write
// are mini's (steps/06-net/net.go): Number, Name, Validate (the flags, the
// host's links and routes), Prepare (the address lease and the bridge) and
// Cleanup. You write CloneFlags, Attach and Init; yours take the place of
// mini's.
type Step struct{ ref.Step }

// CloneFlags returns the flag of a new network namespace: its own links,
// addresses, routes, firewall (network_namespaces(7)); none for --net host.
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	// TODO 1: with --net host (ctx.Spec.Net == ref.Host) return 0: the container
	// shares the host's network. Else return the CLONE_NEW* flag of a new
	// network namespace (clone(2), golang.org/x/sys/unix). Trace either.
	return 0
}

// Attach runs on the host while the child waits on fd 3: the child's network
// namespace exists (it is /proc/PID/ns/net), and the host may add links to it.
func (Step) Attach(ctx *steps.Context, pid int) error {
	s := ctx.Spec
	if s.Net != ref.Bridge {
		return nil
	}
	// Given: the host end's name, mini's (ref.VethName).
	host := ref.VethName(s.ID)
	if err := addVeth(ctx, host, s.IfName, s.Bridge, pid); err != nil {
		return err
	}
	if err := upPeer(ctx, pid, s.IfName); err != nil {
		return err
	}
	// Given: wait until the bridge forwards, so the first packet is not lost
	// (ref.AwaitUp, mini's).
	return ref.AwaitUp(ctx, host, s.Bridge)
}

// addVeth creates the container's veth pair: the host end, named host, up and
// attached to the bridge; its peer, named peer (eth0), created directly in the
// network namespace of pid.
func addVeth(ctx *steps.Context, host, peer, bridge string, pid int) error {
	// TODO 2: with github.com/vishvananda/netlink: find the bridge
	// (netlink.LinkByName), then netlink.LinkAdd a *netlink.Veth whose
	// LinkAttrs (netlink.NewLinkAttrs()) have Name host, Flags net.FlagUp and
	// MasterIndex the bridge's index, and whose PeerName is peer and
	// PeerNamespace netlink.NsPid(pid). That is
	// "ip link add HOST up master BRIDGE type veth peer name eth0 netns PID":
	// trace it so.
	return errors.New("TODO 2 in lab/06-net/net.go: the veth pair")
}

// upPeer brings the container's end up, from the host, inside the child's
// network namespace.
func upPeer(ctx *steps.Context, pid int, peer string) error {
	// TODO 3: netns.GetFromPid(pid) (github.com/vishvananda/netns) opens
	// /proc/PID/ns/net; netlink.NewHandleAt(ns) is a netlink socket inside
	// it; with that handle, find peer and LinkSetUp it. Close both. That is
	// "nsenter --net=/proc/PID/ns/net ip link set eth0 up".
	return errors.New("TODO 3 in lab/06-net/net.go: eth0 up, in the container's namespace")
}

// Init runs in the child, inside its network namespace: lo up, and in bridge
// mode eth0 configured.
func (Step) Init(ctx *steps.Context) error {
	s := ctx.Spec
	if s.Net == ref.Host {
		return nil
	}
	if err := loUp(ctx); err != nil {
		return err
	}
	if s.Net != ref.Bridge {
		return nil
	}
	addr, gw, err := ref.Leased(s) // given: the address and gateway from the spec
	if err != nil {
		return err
	}
	return configure(ctx, s.IfName, addr, gw)
}

// loUp brings up the loopback link: a new network namespace has lo, down.
func loUp(ctx *steps.Context) error {
	// TODO 4: netlink.LinkByName("lo"), then netlink.LinkSetUp: "ip link set
	// lo up". The child is in the new namespace: plain netlink calls act on it.
	return errors.New("TODO 4 in lab/06-net/net.go: lo up")
}

// configure gives eth0 the address the host leased and a default route
// through the gateway, the bridge's address.
func configure(ctx *steps.Context, ifname string, addr netip.Prefix, gateway netip.Addr) error {
	// TODO 5: "ip addr add ADDR dev eth0" (netlink.AddrAdd with a
	// *netlink.Addr: ref.IPNet(addr), mini's, makes its IPNet), then "ip
	// route add default via GATEWAY dev eth0" (netlink.RouteAdd with a
	// *netlink.Route: LinkIndex eth0's index, Gw the gateway as a net.IP).
	// Trace both.
	return errors.New("TODO 5 in lab/06-net/net.go: eth0's address and default route")
}

// Go refuses to build a file with an import it does not use. This line uses
// the packages your TODOs need before you write them, and those only the
// TODOs' errors use (errors) after you have written the last: it keeps the
// file building at every TODO. Delete it once you are done (and then any
// import Go says is unused).
var _ = []any{errors.New, unix.CLONE_NEWNET, net.FlagUp, netlink.LinkAdd, netns.GetFromPid}
