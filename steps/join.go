package steps

import (
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A container may join a namespace that exists rather than get a new one:
// docker's --net container:NAME (step 6), or an OCI config's namespace with
// a path (a pod's network namespace, made by containerd before its
// containers). The join must happen before the child is born, not in it:
// from step 5 the child has a user namespace of its own, where it has no
// privilege over a namespace that belongs to another (setns(2) says
// EPERM), and a PID namespace is entered only by the children of who
// joins it. So the host thread that clones the child (the engine keeps
// one, LockOSThread) joins in Prepare, setns(2) changing only the calling
// thread; the child, cloned without that CLONE_NEW* flag, is born in it;
// Attach puts the thread back (LeaveNS). runc's nsexec joins namespaces
// before it unshares the new ones for the same reason.

// joined are, per container and kind, the namespace this host thread
// left, to go back to.
var joined = struct {
	sync.Mutex
	home map[string]int
}{home: map[string]int{}}

// nsNames are the names of the namespace kinds under /proc/PID/ns.
var nsNames = map[int]string{
	unix.CLONE_NEWUTS: "uts", unix.CLONE_NEWIPC: "ipc", unix.CLONE_NEWNET: "net",
	unix.CLONE_NEWPID: "pid", unix.CLONE_NEWCGROUP: "cgroup",
}

// JoinNS makes this thread a member of the namespace of kind flag (one
// CLONE_NEW*) that path names: /proc/PID/ns/net, or a namespace file bound
// elsewhere (ip netns add). An empty path joins nothing. For a PID
// namespace only the thread's children are born there
// (/proc/PID/ns/pid_for_children).
func JoinNS(ctx *Context, flag int, path string) error {
	if path == "" {
		return nil
	}
	name := nsNames[flag]
	theirs, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(theirs)
	home, err := unix.Open("/proc/thread-self/ns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /proc/thread-self/ns/%s: %w", name, err)
	}
	ctx.Tracef("setns(%s, %s) on the thread that clones the child: it is born there", path, nsFlagName(flag))
	if err := unix.Setns(theirs, flag); err != nil {
		unix.Close(home)
		return fmt.Errorf("setns %s %s: %w", path, nsFlagName(flag), err)
	}
	joined.Lock()
	joined.home[ctx.Spec.ID+"/"+name] = home
	joined.Unlock()
	return nil
}

// LeaveNS puts this thread back in the namespace of kind flag it left, if
// it left one.
func LeaveNS(ctx *Context, flag int) error {
	key := ctx.Spec.ID + "/" + nsNames[flag]
	joined.Lock()
	home, ok := joined.home[key]
	delete(joined.home, key)
	joined.Unlock()
	if !ok {
		return nil
	}
	defer unix.Close(home)
	ctx.Tracef("setns(%s): this thread goes back to the host's namespace", nsFlagName(flag))
	if err := unix.Setns(home, flag); err != nil {
		return fmt.Errorf("setns back to the host's %s namespace: %w", nsNames[flag], err)
	}
	return nil
}

func nsFlagName(flag int) string { return "CLONE_NEW" + strings.ToUpper(nsNames[flag]) }
