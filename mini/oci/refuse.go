package oci

import (
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// refuse names the first field of cfg that mini does not do: a config is
// run as it says, or not at all, never with a part of it ignored.
func refuse(cfg *specs.Spec) error {
	no := func(field, why string) error { return fmt.Errorf("%s: %s", field, why) }
	switch {
	case cfg.Solaris != nil:
		return no("solaris", "mini runs Linux containers")
	case cfg.Windows != nil:
		return no("windows", "mini runs Linux containers")
	case cfg.VM != nil:
		return no("vm", "mini runs containers, not virtual machines")
	case cfg.ZOS != nil:
		return no("zos", "mini runs Linux containers")
	case cfg.FreeBSD != nil:
		return no("freebsd", "mini runs Linux containers")
	}
	if p := cfg.Process; p != nil {
		switch {
		case !Unconfined(p.ApparmorProfile):
			return no("process.apparmorProfile", fmt.Sprintf("%q: mini has no AppArmor: leave it out, or ask for \"unconfined\" (podman: --security-opt apparmor=unconfined); step 9's seccomp filter, capabilities and masked paths are what mini confines with", p.ApparmorProfile))
		case p.SelinuxLabel != "":
			return no("process.selinuxLabel", "mini has no SELinux: leave it out")
		case p.Scheduler != nil:
			return no("process.scheduler", "mini sets no scheduling policy (sched_setattr(2)): leave it out")
		case p.IOPriority != nil:
			return no("process.ioPriority", "mini sets no I/O priority (ioprio_set(2)): leave it out")
		case p.ExecCPUAffinity != nil:
			return no("process.execCPUAffinity", "mini sets no CPU affinity: use linux.resources.cpu.cpus")
		case p.CommandLine != "":
			return no("process.commandLine", "a Windows field: give process.args")
		case p.User.Username != "":
			return no("process.user.username", "a Windows field: give process.user.uid and gid")
		}
	}
	l := cfg.Linux
	if l == nil {
		return nil
	}
	switch {
	case l.MountLabel != "":
		return no("linux.mountLabel", "mini has no SELinux: leave it out")
	case l.IntelRdt != nil:
		return no("linux.intelRdt", "mini does not drive Intel RDT (resctrl): leave it out")
	case l.Personality != nil:
		return no("linux.personality", "mini sets no execution domain (personality(2)): leave it out")
	case len(l.TimeOffsets) > 0:
		return no("linux.timeOffsets", "mini makes no time namespace: leave it out")
	case l.MemoryPolicy != nil:
		return no("linux.memoryPolicy", "mini sets no NUMA memory policy (set_mempolicy(2)): leave it out")
	case len(l.NetDevices) > 0:
		return no("linux.netDevices", "mini moves no network device into the container: a CNI plugin, or a prestart hook, does")
	}
	if r := l.Resources; r != nil {
		switch {
		case r.BlockIO != nil:
			return no("linux.resources.blockIO", "mini has no blkio (io) limits: leave it out")
		case len(r.HugepageLimits) > 0:
			return no("linux.resources.hugepageLimits", "mini has no hugetlb limits: leave them out")
		case r.Network != nil:
			return no("linux.resources.network", "mini has no net_cls or net_prio limits: leave it out")
		case len(r.Rdma) > 0:
			return no("linux.resources.rdma", "mini has no RDMA limits: leave it out")
		case len(r.Unified) > 0:
			return no("linux.resources.unified", "mini writes no cgroup v2 files by name: use the resources it knows (memory, cpu, pids, devices)")
		}
		if m := r.Memory; m != nil {
			switch {
			case m.Kernel != nil:
				return no("linux.resources.memory.kernel", "kernel memory is counted with the rest since Linux 5.4, and has no limit of its own on cgroup v2: leave it out")
			case m.KernelTCP != nil:
				return no("linux.resources.memory.kernelTCP", "mini sets no TCP buffer limit: leave it out")
			case m.UseHierarchy != nil:
				return no("linux.resources.memory.useHierarchy", "the memory controller is always hierarchical since Linux 6.1: leave it out")
			case m.CheckBeforeUpdate != nil:
				return no("linux.resources.memory.checkBeforeUpdate", "mini does not update a container's limits: leave it out")
			}
		}
		if c := r.CPU; c != nil {
			switch {
			case c.Burst != nil:
				return no("linux.resources.cpu.burst", "mini sets no CPU burst: leave it out")
			case c.RealtimeRuntime != nil || c.RealtimePeriod != nil:
				return no("linux.resources.cpu.realtimeRuntime", "mini gives no real-time CPU time: leave realtimeRuntime and realtimePeriod out")
			case c.Idle != nil:
				return no("linux.resources.cpu.idle", "mini sets no SCHED_IDLE cgroups: leave it out")
			}
		}
	}
	return nil
}

// rlimits are the resource limits setrlimit(2) knows, by the spec's names.
var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// Unconfined says whether an AppArmor profile asks for no AppArmor
// confinement: none, or "unconfined", which engines on a host with AppArmor
// send when told to (podman's --security-opt apparmor=unconfined). mini
// confines with no AppArmor profile, so that one it does as asked.
func Unconfined(profile string) bool { return profile == "" || profile == "unconfined" }
