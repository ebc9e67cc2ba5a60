package security

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"mini/steps"
)

// The profile is data, and it is docker's own: github.com/moby/profiles/seccomp
// holds docker's default profile as Go data and reads profile files in
// docker's format. It also resolves a profile for one container, as docker
// does: a rule that names a capability (mount with CAP_SYS_ADMIN), an
// architecture or a kernel version applies only when the container has it.
// What it gives is an OCI runtime spec's LinuxSeccomp: a default action,
// architectures, and rules. Turning that into a filter is compile's work
// (bpf.go), and mini's.

// profile returns the container's seccomp profile, resolved for its
// capabilities (caps, the bounding set) and this machine: docker's default
// (opt ""), none ("unconfined"), or the profile file opt. what names it.
func profile(opt string, caps []string) (p *specs.LinuxSeccomp, what string, err error) {
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	switch opt {
	case "unconfined":
		return nil, "unconfined", nil
	case "":
		p, err = seccomp.GetDefaultProfile(rs)
		return p, "docker's default profile", err
	}
	what = "--security-opt seccomp=" + opt
	data, err := os.ReadFile(opt)
	if err != nil {
		return nil, what, fmt.Errorf("%s: %w", what, err)
	}
	p, err = seccomp.LoadProfile(string(data), rs)
	if err != nil {
		return nil, what, fmt.Errorf("%s: not a seccomp profile in docker's format: %w", what, err)
	}
	if p == nil {
		// No default action and no rules: docker runs that unconfined.
		return nil, what + " (empty: unconfined)", nil
	}
	return p, what, nil
}

// dockerNames are the system calls docker's default profile names, on any
// architecture: a profile may name them (cacheflush, an ARM-only call the
// tables from x/sys do not have) without being wrong.
var dockerNames = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	for _, sc := range seccomp.DefaultProfile().Syscalls {
		for _, n := range sc.Names {
			names[n] = true
		}
		if sc.Name != "" {
			names[sc.Name] = true // the old format's one name
		}
	}
	return names
})

func dockerName(n string) bool { return dockerNames()[n] }

// loadFilter installs the filter on the calling thread with seccomp(2),
// SECCOMP_SET_MODE_FILTER: from now on the kernel runs it on each of its
// system calls, and on those of whatever it executes. The thread is the one
// that will execve the command (steps.Init locks it). Without no_new_privs
// the kernel demands CAP_SYS_ADMIN for it (seccomp(2), EACCES otherwise).
func loadFilter(ctx *steps.Context, code []byte, flags uint) error {
	ins := decode(code)
	if len(ins) == 0 {
		return errors.New("seccomp: the spec's filter is empty")
	}
	prog := unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]}
	ctx.Tracef("seccomp(SECCOMP_SET_MODE_FILTER, %#x, {len %d}): the filter is on", flags, len(ins))
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(ins)
	if errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	return nil
}
