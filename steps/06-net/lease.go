package network

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"mini/steps"
	"mini/steps/06-net/internal/ipam"
)

// takeLease leases the container an address of the subnet, and makes sure
// the bridge is there, under the lease lock (internal/ipam): many mini
// processes may start at once. The leases of runs whose mini is gone are
// dropped, and their veths deleted.
func takeLease(ctx *steps.Context) error {
	s := ctx.Spec
	subnet, err := ipam.ParseSubnet(s.Subnet)
	if err != nil {
		return err
	}
	me, err := steps.Self()
	if err != nil {
		return err
	}
	path := ipam.Path(s.Root, s.Bridge)
	var addr netip.Addr
	err = ipam.With(s.Root, s.Bridge, func(leases []ipam.Lease) ([]ipam.Lease, error) {
		kept, stale, err := ipam.Allocate(leases, subnet, ipam.Lease{ID: s.ID, Owner: me}, steps.Owner.Alive)
		if err != nil {
			return nil, err
		}
		addr = kept[len(kept)-1].IP
		ctx.Tracef("lease %s in %s (flock %s)", addr, path, filepath.Dir(path))
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
	s.Gateway = ipam.Gateway(subnet).String()
	s.IfName = ifName
	return nil
}

// releaseLease gives the container's address back, if it took one.
func releaseLease(ctx *steps.Context) error {
	s := ctx.Spec
	if s.IP == "" {
		return nil // Prepare took no lease
	}
	return ipam.With(s.Root, s.Bridge, func(leases []ipam.Lease) ([]ipam.Lease, error) {
		kept, stale := ipam.Release(leases, s.ID, steps.Owner.Alive)
		ctx.Tracef("release %s in %s", s.IP, ipam.Path(s.Root, s.Bridge))
		return kept, reclaim(ctx, stale)
	})
}

// reclaim deletes what containers whose mini is gone (SIGKILL) left: their
// host veth, if the kernel has not deleted it yet. Their leases are dropped
// by the caller.
func reclaim(ctx *steps.Context, stale []ipam.Lease) error {
	for _, l := range stale {
		ctx.Tracef("reclaim %s: its mini (pid %d) is gone", l.IP, l.Owner.PID)
		// The id names the link deleted: only ever one mini named.
		if !steps.ValidID(l.ID) {
			ctx.Tracef("%q is not a container id: no veth of mini's to delete", l.ID)
			continue
		}
		name := VethName(l.ID)
		link, err := rtnl().LinkByName(name)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("ip link show %s: %w", name, err)
		}
		ctx.Tracef("ip link del %s", name)
		if err := rtnl().LinkDel(link); err != nil && !isNotFound(err) {
			return fmt.Errorf("ip link del %s: %w", name, err)
		}
	}
	return nil
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
