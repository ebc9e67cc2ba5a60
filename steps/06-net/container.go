package network

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Container mode, --net container:NAME|ID, docker's fourth network mode:
// the new container gets no network namespace of its own; it joins the one
// of a running container, whose init mini found (Spec.NetJoin): the same
// links, the same address, and 127.0.0.1 shared, so the two talk over
// localhost. No veth, no lease: they are the other container's. The host
// thread that clones the child joins it in Prepare, and the child is born
// there (steps.JoinNS says why not the child itself).

// ContainerPrefix starts --net container:NAME.
const ContainerPrefix = "container:"

// IsContainer says whether --net is container mode.
func IsContainer(net string) bool { return strings.HasPrefix(net, ContainerPrefix) }

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
	if err := steps.JoinNS(ctx, unix.CLONE_NEWNET, "/proc/"+strconv.Itoa(o.PID)+"/ns/net"); err != nil {
		return fmt.Errorf("--net %s: %w", s.Net, err)
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
