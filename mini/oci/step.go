package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"mini/steps"
)

// Step is what a config asks of a container that is no step's mechanism:
// process attributes (resource limits, umask, OOM score), sysctls, and the
// hooks that run inside the container or around its start. It is not one
// of the numbered steps: Recipe puts it before step 9, so that its Init
// writes the sysctls before step 9 makes /proc/sys read-only, and its
// PreUser runs the startContainer hooks before step 9 drops the
// capabilities they may need.
type Step struct{}

func (Step) Number() int  { return 0 }
func (Step) Name() string { return "oci" }

// joins are the namespaces a config may name by path that this step
// joins for steps 1, 2 and 4, which then make none: a UTS, a PID or an IPC
// namespace is joined by the thread that clones the child, as step 6 joins
// a network namespace (steps.JoinNS says why). A mount namespace is the
// child's to join (step 3).
var joins = []struct {
	kind string
	flag int
}{{"uts", unix.CLONE_NEWUTS}, {"ipc", unix.CLONE_NEWIPC}, {"pid", unix.CLONE_NEWPID}}

// Prepare joins the namespaces the config names by path.
func (Step) Prepare(ctx *steps.Context) error {
	for _, j := range joins {
		if err := steps.JoinNS(ctx, j.flag, ctx.Spec.OCI.JoinPath(j.kind)); err != nil {
			return fmt.Errorf("linux.namespaces %s: %w", j.kind, err)
		}
	}
	return nil
}

// Cleanup puts this thread back where it was, if Attach did not, and
// removes the holder's socket, which a holder killed by SIGKILL leaves in
// the container's directory (the reclaim runs this).
func (Step) Cleanup(ctx *steps.Context) error {
	err := leave(ctx)
	if rerr := os.Remove(filepath.Join(ctx.ContainerDir(), sockName)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

func leave(ctx *steps.Context) error {
	var errs []error
	for _, j := range joins {
		errs = append(errs, steps.LeaveNS(ctx, j.flag))
	}
	return errors.Join(errs...)
}

// Attach puts this thread back in its own namespaces, the child being
// born; records the container's pid for the hooks' state; and sets its
// OOM score (proc(5), /proc/PID/oom_score_adj): how readily the kernel's
// OOM killer picks it; the command inherits it.
func (Step) Attach(ctx *steps.Context, pid int) error {
	if err := leave(ctx); err != nil {
		return err
	}
	o := ctx.Spec.OCI
	o.Pid = pid
	if o.OOMScoreAdj == nil {
		return nil
	}
	path := fmt.Sprintf("/proc/%d/oom_score_adj", pid)
	ctx.Tracef("echo %d > %s", *o.OOMScoreAdj, path)
	if err := os.WriteFile(path, []byte(strconv.Itoa(*o.OOMScoreAdj)), 0); err != nil {
		return fmt.Errorf("process.oomScoreAdj: %w", err)
	}
	return nil
}

// MountRootfs runs the createContainer hooks, in the child, in the
// container's namespaces, before pivot_root: their paths are the host's.
func (Step) MountRootfs(ctx *steps.Context) error {
	return RunHooks(ctx, CreateContainer, specs.StateCreated)
}

// Init writes the config's sysctls in the container's /proc/sys, which
// shows the container's own namespaces (config.go took only those).
func (Step) Init(ctx *steps.Context) error {
	for k, v := range ctx.Spec.OCI.Sysctl {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		ctx.Tracef("echo %s > %s", v, path)
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			return fmt.Errorf("linux.sysctl %s: %w", k, err)
		}
	}
	return nil
}

// PreUser runs once the container is started (after the start barrier):
// the startContainer hooks, then the resource limits (setrlimit(2); a hard
// limit may be raised only while the child is still root, with
// CAP_SYS_RESOURCE) and the umask.
func (Step) PreUser(ctx *steps.Context) error {
	if err := RunHooks(ctx, StartContainer, specs.StateCreated); err != nil {
		return err
	}
	o := ctx.Spec.OCI
	for _, r := range o.Rlimits {
		ctx.Tracef("setrlimit(%s, %d, %d)", r.Type, r.Soft, r.Hard)
		if err := unix.Setrlimit(rlimits[r.Type], &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fmt.Errorf("process.rlimits %s: setrlimit: %w", r.Type, err)
		}
	}
	mask := 0o022 // runc's, when the config gives none
	if o.Umask != nil {
		mask = int(*o.Umask)
	}
	ctx.Tracef("umask(%#o)", mask)
	unix.Umask(mask)
	return nil
}

// Started runs the poststart hooks, on the host, once the command runs;
// one that fails is a warning (the engine prints it), the rest still run.
func (Step) Started(ctx *steps.Context) error {
	return RunAll(ctx, Poststart, specs.StateRunning)
}

// Recipe returns the steps a container made from a config runs: the steps
// of the namespaces it lists (1 uts, 2 pid, 4 ipc, 5 user, 6 net), step 3
// (every container has its own /, pivoted or chrooted), step 7 (its
// cgroup), this package's Step, step 9; and terminal, the terminal's step,
// when process.terminal. Step 8 is not used: a bundle gives its root
// filesystem as a directory, not as image layers. all are mini's steps,
// the learner's where a lab replaces one.
func Recipe(spec *steps.Spec, all []steps.Step, terminal steps.Step) []steps.Step {
	o := spec.OCI
	kinds := map[int]string{1: "uts", 2: "pid", 4: "ipc", 5: "user", 6: "net"}
	var out []steps.Step
	for _, s := range all {
		n := s.Number()
		switch {
		case n == 8:
			continue
		case n == 9:
			out = append(out, Step{})
		case kinds[n] != "" && !o.Has(kinds[n]):
			continue
		}
		out = append(out, s)
	}
	if spec.Tty {
		out = append(out, terminal)
	}
	return out
}
