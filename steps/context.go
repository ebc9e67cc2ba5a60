package steps

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Context is what a hook gets: the spec, where it runs, and a way to say
// what it does. The engine hands each step its own copy, so trace lines are
// tagged with the step that printed them.
type Context struct {
	Spec *Spec

	// Exited is set before Cleanup when the child ran and was reaped; Status
	// is then how it ended. A cleanup that reports (step 7's OOM line) reads it.
	Exited bool
	Status syscall.WaitStatus

	// Started is set before Cleanup when the command was executed: the
	// child reached exec. A Cleanup that keeps what a container leaves (step
	// 8's layers) reads it; a run that failed before is undone entirely.
	Started bool

	// Init is the container's init once its command runs: the engine sets
	// it before the Started hooks, which may hand what they made to it.
	Init Owner

	side string // "host" or "child"
	step Step   // nil for the engine itself
	out  io.Writer

	// rootfsMounters are the active steps that build the root filesystem;
	// see MountRootfs.
	rootfsMounters []Step

	// received are, in the child, the files the host sent with the spec.
	received []int

	// child is what Prepare hooks asked of the child's creation; shared by
	// every copy For makes. See PassFile and CloneIntoCgroup.
	childFiles *childFiles
}

// childFiles are the open files the child gets, beyond its pipes: files
// it inherits, the cgroup it is born in, and files sent at the barrier.
type childFiles struct {
	extra  []*os.File // inherited as fd firstPassedFD, firstPassedFD+1, ...
	cgroup *os.File   // a cgroup v2 directory, for CLONE_INTO_CGROUP; nil: none
	sent   []*os.File // sent with the spec, in this order (SendFile)
}

// closeSent closes the files sent at the barrier: the child has its own
// copies, or is gone.
func (f *childFiles) closeSent() {
	for _, x := range f.sent {
		x.Close()
	}
	f.sent = nil
}

// close closes them: after the child has started it has its own copies, and
// after a failure it will never start.
func (f *childFiles) close() {
	for _, x := range f.extra {
		x.Close()
	}
	if f.cgroup != nil {
		f.cgroup.Close()
	}
	f.extra, f.cgroup = nil, nil
}

// NewContext returns a context for side ("host" or "child") writing trace
// and notes to out.
func NewContext(spec *Spec, side string, out io.Writer) *Context {
	return &Context{Spec: spec, side: side, out: out, childFiles: &childFiles{}}
}

// PassFile hands f to the child: it inherits it, open, as the fd number
// returned, which the step records in the spec for its Init to use. The file
// was opened with the host's privileges, which a child in a user namespace
// no longer has (step 7 passes it cgroup files that only host root may open).
// Call it in Prepare; the engine closes f once the child has started.
func (c *Context) PassFile(f *os.File) int {
	c.childFiles.extra = append(c.childFiles.extra, f)
	return firstPassedFD + len(c.childFiles.extra) - 1
}

// SendFile hands f to the child at the barrier: it is sent with the spec
// as an SCM_RIGHTS message on fd 3 (unix(7)), and the child's steps find it
// with ReceivedFile(i), i being what SendFile returned. Unlike PassFile it
// works in Attach, for a file that can only be made once the child exists
// (step 8's mounts for the child's user namespace). The engine closes f once
// it is sent.
func (c *Context) SendFile(f *os.File) int {
	c.childFiles.sent = append(c.childFiles.sent, f)
	return len(c.childFiles.sent) - 1
}

// ReceivedFile is, in the child, the fd of the i-th file the host sent
// with SendFile. It is close-on-exec: the command never gets it.
func (c *Context) ReceivedFile(i int) (int, error) {
	if i < 0 || i >= len(c.received) {
		return -1, fmt.Errorf("file %d was not sent with the spec (%d were)", i, len(c.received))
	}
	return c.received[i], nil
}

// CloneIntoCgroup has the child born in the cgroup v2 whose directory dir
// is: clone3(2) with CLONE_INTO_CGROUP (Linux 5.7), so it never runs a
// moment outside it and nothing has to move it in. Call it in Prepare; the
// engine closes dir once the child has started.
func (c *Context) CloneIntoCgroup(dir *os.File) {
	c.childFiles.cgroup = dir
}

// For returns a copy of ctx whose trace lines are tagged with step s.
func (c *Context) For(s Step) *Context {
	cp := *c
	cp.step = s
	return &cp
}

// Tracef prints one action when --trace is on, tagged with the side and the
// step: "[host  06 net   ] ip link add veth1a2b type veth ...".
func (c *Context) Tracef(format string, args ...any) {
	if !c.Spec.Trace {
		return
	}
	n, name := 0, "engine"
	if c.step != nil {
		n, name = c.step.Number(), c.step.Name()
	}
	fmt.Fprintf(c.out, "[%-5s %02d %-7s] %s\n", c.side, n, name, fmt.Sprintf(format, args...))
}

// Notef prints a line the user must see whatever the flags, such as
// "mini: container killed: out of memory (limit 32MiB)".
func (c *Context) Notef(format string, args ...any) {
	fmt.Fprintf(c.out, "mini: "+format+"\n", args...)
}

// Side is "host" or "child".
func (c *Context) Side() string { return c.side }

// ContainerDir is where the container's own state lives on the host:
// <root>/containers/<id>. Only steps that need it create it.
func (c *Context) ContainerDir() string {
	return filepath.Join(c.Spec.Root, "containers", c.Spec.ID)
}

// MountRootfs is called by step 3's Init between making / private and
// pivot_root: each later step that builds the root filesystem (step 8 mounts
// the overlay at Spec.Rootfs) does so now, inside the container's own mount
// namespace, so nothing is left on the host if mini is killed.
func (c *Context) MountRootfs() error {
	for _, s := range c.rootfsMounters {
		if err := s.(RootfsMounter).MountRootfs(c.For(s)); err != nil {
			return fmt.Errorf("step %d (%s): %w", s.Number(), s.Name(), err)
		}
	}
	return nil
}
