// Package network is step 6: a network namespace gives the container its own
// links, addresses and routes; a veth pair and a host bridge connect it, as
// docker's default bridge network does. Links are made with netlink(7), the
// same requests "ip" sends; each trace line and docs/06-net.md show the "ip"
// command for each call. See network_namespaces(7), veth(4) and
// docs/06-net.md.
package network

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"

	"golang.org/x/sys/unix"

	"mini/steps"
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
	subnet, err := ParseSubnet(s.Subnet)
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
// the lease lock: many mini processes may start at once. (A bridge that
// Validate found ready, up with the gateway address, is there still: mini
// never takes one down.) Then it binds the published ports (ports.go).
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
	subnet, err := ParseSubnet(s.Subnet)
	if err != nil {
		return err
	}
	me, err := steps.Self()
	if err != nil {
		return err
	}
	owner := Lease{ID: s.ID, PID: me.PID, Start: me.Start}
	var addr netip.Addr
	err = withLeases(s.Root, s.Bridge, func(leases []Lease) ([]Lease, error) {
		kept, stale, err := Allocate(leases, subnet, owner, alive)
		if err != nil {
			return nil, err
		}
		addr = kept[len(kept)-1].IP
		ctx.Tracef("lease %s in %s (flock %s)", addr, leasePath(s.Root, s.Bridge), filepath.Dir(leasePath(s.Root, s.Bridge)))
		if err := reclaim(ctx, stale); err != nil {
			return nil, err
		}
		if s.BridgeIndex == 0 { // not ready when Validate looked
			if s.BridgeIndex, err = ensureBridge(ctx, s.Bridge, subnet); err != nil {
				return nil, err
			}
		}
		return kept, nil
	})
	if err != nil {
		return err
	}
	s.IP = netip.PrefixFrom(addr, subnet.Bits()).String()
	s.Gateway = Gateway(subnet).String()
	s.IfName = ifName
	return publish(ctx)
}

// reclaim removes what containers whose mini is gone (SIGKILL) left: their
// host veth, if the kernel has not deleted it yet. Their leases are dropped
// by the caller.
func reclaim(ctx *steps.Context, stale []Lease) error {
	for _, l := range stale {
		ctx.Tracef("reclaim %s: its mini (pid %d) is gone", l.IP, l.PID)
		// The id names the link deleted: only ever one mini named.
		if !steps.ValidID(l.ID) {
			ctx.Tracef("%q is not a container id: no veth of mini's to delete", l.ID)
			continue
		}
		if err := delVeth(ctx, VethName(l.ID)); err != nil {
			return err
		}
	}
	return nil
}

// Attach creates the veth pair with its peer inside the child's namespace,
// brings both ends up and waits until the bridge forwards: the command may
// send its first packet as soon as it starts.
func (Step) Attach(ctx *steps.Context, pid int) error {
	s := ctx.Spec
	if IsContainer(s.Net) || s.OCI.JoinPath("net") != "" {
		return steps.LeaveNS(ctx, unix.CLONE_NEWNET)
	}
	if s.Net != Bridge {
		return nil
	}
	host := VethName(s.ID)
	if err := addVeth(ctx, host, s.IfName, s.Bridge, s.BridgeIndex, pid); err != nil {
		return err
	}
	if err := upPeer(ctx, pid, s.IfName); err != nil {
		return err
	}
	return AwaitUp(ctx, host, s.Bridge)
}

// Init runs in the child, inside its network namespace: lo up, and in bridge
// mode eth0 configured.
func (Step) Init(ctx *steps.Context) error {
	s := ctx.Spec
	if s.Net == Host || IsContainer(s.Net) || s.OCI.JoinPath("net") != "" {
		return nil
	}
	if err := loUp(ctx); err != nil {
		return err
	}
	if s.Net != Bridge {
		return nil
	}
	addr, gw, err := Leased(s)
	if err != nil {
		return err
	}
	return configure(ctx, s.IfName, addr, gw)
}

// Leased is the address and gateway the host leased for the container, as
// the spec brings them to the child. Exported for the lab (lab/06-net).
func Leased(s *steps.Spec) (netip.Prefix, netip.Addr, error) {
	addr, err := netip.ParsePrefix(s.IP)
	if err != nil {
		return addr, netip.Addr{}, fmt.Errorf("address %q from the host: %w", s.IP, err)
	}
	gw, err := netip.ParseAddr(s.Gateway)
	if err != nil {
		return addr, gw, fmt.Errorf("gateway %q from the host: %w", s.Gateway, err)
	}
	return addr, gw, nil
}

// Cleanup cuts the host veth off the bridge, if the kernel has not deleted
// it yet, then releases the lease: an address is leased again only once no
// link answers for it. Prepare or Attach may have stopped half-way: each
// part is a no-op then.
func (Step) Cleanup(ctx *steps.Context) error {
	s := ctx.Spec
	if IsContainer(s.Net) || s.OCI.JoinPath("net") != "" {
		return steps.LeaveNS(ctx, unix.CLONE_NEWNET) // if the run stopped before Attach
	}
	if s.Net != Bridge {
		return nil
	}
	unpublish(ctx)
	vethErr := downVeth(ctx, VethName(s.ID))
	if s.IP == "" {
		return vethErr // Prepare took no lease
	}
	leaseErr := withLeases(s.Root, s.Bridge, func(leases []Lease) ([]Lease, error) {
		kept, stale := Release(leases, s.ID, alive)
		ctx.Tracef("release %s in %s", s.IP, leasePath(s.Root, s.Bridge))
		return kept, reclaim(ctx, stale)
	})
	return errors.Join(vethErr, leaseErr)
}
