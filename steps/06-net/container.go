package network

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Container mode, --net container:NAME|ID, docker's fourth network mode:
// the new container gets no network namespace of its own; it joins the one
// of a running container, whose init mini found (Spec.NetJoin): the same
// links, the same address, and 127.0.0.1 shared, so the two talk over
// localhost. No veth, no lease: they are the other container's.
//
// The join must happen before the child is born, not in it: from step 5
// the child is created in a user namespace of its own, where it has no
// privilege over a network namespace that belongs to another container's
// user namespace, and setns(2) would say EPERM. So the host thread that
// clones the child (the engine keeps Run on one, LockOSThread) joins it in
// Prepare, setns(CLONE_NEWNET) changing only the calling thread; the child,
// cloned without CLONE_NEWNET, is born in it; Attach puts the thread back.
// runc's nsexec joins namespaces before it unshares the new ones for the
// same reason.

// ContainerPrefix starts --net container:NAME.
const ContainerPrefix = "container:"

// IsContainer says whether --net is container mode.
func IsContainer(net string) bool { return strings.HasPrefix(net, ContainerPrefix) }

// joined are, per container id, the network namespace this host thread
// left for the other container's (to go back to), from Prepare to Attach.
var joined = struct {
	sync.Mutex
	home map[string]int
}{home: map[string]int{}}

// joinOther makes this thread a member of the network namespace of the
// container whose init is spec.NetJoin.
func joinOther(ctx *steps.Context) error {
	s := ctx.Spec
	o := s.NetJoin
	// The pid must still be that container's init: a pidfd pins the
	// process, then its start time says it is the one mini recorded.
	pidfd, err := unix.PidfdOpen(o.PID, 0)
	if err != nil {
		return fmt.Errorf("--net %s: the container is not running (pidfd_open %d: %v)", s.Net, o.PID, err)
	}
	defer unix.Close(pidfd)
	if start, err := steps.ProcessStart(o.PID); err != nil || start != o.Start {
		return fmt.Errorf("--net %s: the container is not running", s.Net)
	}
	path := "/proc/" + strconv.Itoa(o.PID) + "/ns/net"
	theirs, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("--net %s: open %s: %w", s.Net, path, err)
	}
	defer unix.Close(theirs)
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /proc/thread-self/ns/net: %w", err)
	}
	ctx.Tracef("setns(%s, CLONE_NEWNET) on the thread that clones the child: it is born there", path)
	if err := unix.Setns(theirs, unix.CLONE_NEWNET); err != nil {
		unix.Close(home)
		return fmt.Errorf("--net %s: setns %s: %w", s.Net, path, err)
	}
	joined.Lock()
	joined.home[s.ID] = home
	joined.Unlock()
	return nil
}

// goHome puts this thread back in the network namespace it left, if it
// left one.
func goHome(ctx *steps.Context) error {
	joined.Lock()
	home, ok := joined.home[ctx.Spec.ID]
	delete(joined.home, ctx.Spec.ID)
	joined.Unlock()
	if !ok {
		return nil
	}
	defer unix.Close(home)
	ctx.Tracef("setns(CLONE_NEWNET): this thread goes back to the host's network namespace")
	if err := unix.Setns(home, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns back to the host's network namespace: %w", err)
	}
	return nil
}

// checkContainer checks container mode's spec.
func checkContainer(s *steps.Spec) error {
	if strings.TrimPrefix(s.Net, ContainerPrefix) == "" {
		return errors.New("--net container: needs a container: --net container:NAME or container:ID")
	}
	if s.NetJoin.PID <= 0 {
		return fmt.Errorf("--net %s: no running container found for it", s.Net)
	}
	return nil
}
