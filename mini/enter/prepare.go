package enter

import (
	"fmt"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// prepare lays out what the child needs in memory it only reads. keep holds
// what childArgs points into, for runtime.KeepAlive until the fork is done.
func prepare(t Target, p *Process, path string, c cred, userns, cgroupns, errPipe int) (*childArgs, []any, error) {
	env := p.Env
	if p.Home {
		env = setEnv(env, "HOME", c.home)
	}
	pathp, err := syscall.BytePtrFromString(path)
	if err != nil {
		return nil, nil, err
	}
	argv, err := cstrings(p.Args)
	if err != nil {
		return nil, nil, err
	}
	envv, err := cstrings(env)
	if err != nil {
		return nil, nil, err
	}
	dirp, err := syscall.BytePtrFromString(p.Dir)
	if err != nil {
		return nil, nil, err
	}
	if len(t.CgroupTasks) > maxTasks {
		return nil, nil, fmt.Errorf("%d cgroup hierarchies: mini joins at most %d", len(t.CgroupTasks), maxTasks)
	}
	a := &childArgs{
		path: pathp, argv: &argv[0], envv: &envv[0], dir: dirp,
		userns: userns, cgroupns: cgroupns, setgroups: c.setgroups, uid: c.uid, gid: c.gid,
		terminal: p.Terminal, errPipe: errPipe, all: ^uint64(0),
	}
	a.zero[0] = '0'
	a.clone.flags = unix.CLONE_PIDFD
	a.clone.pidFD = uint64(uintptr(unsafe.Pointer(&a.pidFD)))
	a.clone.exitSignal = uint64(unix.SIGCHLD)
	if t.CgroupDir >= 0 {
		// Born in the container's cgroup v2, as its init was.
		a.clone.flags |= unix.CLONE_INTO_CGROUP
		a.clone.cgroup = uint64(t.CgroupDir)
	}
	a.ntasks = copy(a.tasks[:], t.CgroupTasks)
	groups := c.groups
	if len(groups) == 0 {
		groups = []uint32{0} // a valid pointer; ngroups 0 clears them
	}
	a.groups, a.ngroups = &groups[0], len(c.groups)
	for i, f := range p.Stdio {
		a.stdio[i] = int(f.Fd())
	}
	keep := []any{argv, envv, groups, p.Stdio}
	if sec := t.Security; sec != nil {
		a.secure, a.keep, a.lastCap, a.nnp = true, sec.Caps, sec.LastCap, sec.NoNewPrivileges
		a.capHeader.Version = unix.LINUX_CAPABILITY_VERSION_3
		a.capData[0] = unix.CapUserData{Effective: uint32(sec.Caps), Permitted: uint32(sec.Caps)}
		a.capData[1] = unix.CapUserData{Effective: uint32(sec.Caps >> 32), Permitted: uint32(sec.Caps >> 32)}
		if n := len(sec.Filter) / int(unsafe.Sizeof(unix.SockFilter{})); n > 0 {
			ins := make([]unix.SockFilter, n)
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ins[0])), len(sec.Filter)), sec.Filter)
			a.filter = unix.SockFprog{Len: uint16(n), Filter: &ins[0]}
			a.filterFlags = uintptr(sec.FilterFlags)
			keep = append(keep, ins)
		}
	}
	return a, keep, nil
}

// setEnv sets k=v in env, in place of an earlier k.
func setEnv(env []string, k, v string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, k+"=") {
			out = append(out, kv)
		}
	}
	return append(out, k+"="+v)
}
