// Package security is step 9: what a container may do, once it has its own
// namespaces, is cut down to what docker allows. Its root keeps 14 of the
// 41 capabilities, a seccomp filter refuses the system calls docker's
// default profile refuses, and /proc and /sys hide or freeze the files that
// reach the host's kernel. See docs/09-security.md, capabilities(7),
// seccomp(2) and prctl(2).
package security

import (
	"fmt"
	"strings"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Step is step 9.
type Step struct{}

func (Step) Number() int  { return 9 }
func (Step) Name() string { return "security" }

// Validate decides everything on the host, before anything is made: the
// capability set, no_new_privs, and the seccomp filter. A profile file is
// compiled here, so that a bad one fails with nothing to undo; docker's
// default profile cannot be wrong: an earlier run's compilation is used
// (cache.go), or it is compiled in the background while the other steps
// prepare and the child starts, and Attach waits for it
// (docs/performance.md). The child gets it all in the spec.
func (Step) Validate(ctx *steps.Context) error {
	spec := ctx.Spec
	if spec.OCI != nil {
		return validateOCI(ctx)
	}
	o, err := parseOptions(spec.SecurityOpt)
	if err != nil {
		return err
	}
	caps, err := CapSet(DefaultCaps, spec.CapAdd, spec.CapDrop, spec.Privileged)
	if err != nil {
		return err
	}
	spec.Caps, spec.NoNewPrivileges, spec.Unmasked = caps, o.noNewPrivs, o.unmasked || spec.Privileged
	if spec.Privileged {
		ctx.Tracef("--privileged: every capability, no seccomp filter, no masked or read-only paths, as docker")
		if o.seccomp == "" {
			return nil // docker applies a profile to a privileged container only when one is named
		}
	}
	ctx.Tracef("capabilities: %s", capList(capMask(caps)))
	if o.seccomp != "" {
		return useFilter(ctx, build(o.seccomp, caps, spec.Trace))
	}
	// Docker's default: compiled by an earlier run, or now, in the background.
	path, ok := cachePath(spec.Root, caps)
	if code := readCache(path); ok && code != nil && !spec.Trace {
		spec.Seccomp = code
		return nil
	}
	done := make(chan filter, 1)
	go func() {
		f := build("", caps, spec.Trace)
		f.cache = path
		done <- f
	}()
	compiling.Store(spec, done)
	return nil
}

// Attach puts docker's default filter, compiled meanwhile, in the spec
// before the host sends it.
func (Step) Attach(ctx *steps.Context, pid int) error {
	done, ok := compiling.LoadAndDelete(ctx.Spec)
	if !ok {
		return nil
	}
	f := <-done.(chan filter)
	if err := useFilter(ctx, f); err != nil {
		return err
	}
	if f.cache != "" && ctx.Spec.Seccomp != nil && ctx.Spec.SeccompFlags == 0 {
		writeCache(ctx, f.cache, ctx.Spec.Seccomp)
	}
	return nil
}

// compiling holds, for the spec of a run, the filter being compiled.
var compiling sync.Map // *steps.Spec -> chan filter

// filter is a profile compiled, or why it could not be.
type filter struct {
	what    string // the profile's name
	profile *specs.LinuxSeccomp
	prog    *program
	flags   uint
	err     error
	cache   string // where to keep it, docker's default only
}

// build loads profile opt for a container with capabilities caps, and
// compiles it.
func build(opt string, caps []string, trace bool) filter {
	p, what, err := profile(opt, caps)
	f := filter{what: what, profile: p, err: err}
	if err == nil && p != nil {
		f.prog, f.flags, f.err = compile(p, what, trace)
	}
	return f
}

// useFilter puts the filter in the spec, and its instructions in the trace.
func useFilter(ctx *steps.Context, f filter) error {
	if f.err != nil {
		return f.err
	}
	if f.profile == nil {
		ctx.Tracef("seccomp: %s: no filter", f.what)
		return nil
	}
	ctx.Tracef("seccomp: %s, %s, %d rules -> %d BPF instructions:", f.what,
		strings.TrimPrefix(string(f.profile.DefaultAction), "SCMP_ACT_"), len(f.profile.Syscalls), len(f.prog.ins))
	for i := range f.prog.notes { // with --trace only
		ctx.Tracef("%s", disasm(i, f.prog.ins[i], f.prog.notes[i]))
	}
	ctx.Spec.Seccomp, ctx.Spec.SeccompFlags = encode(f.prog.ins), f.flags
	return nil
}

// Init runs in the child once / is the image and step 3 has mounted /proc
// and /sys: it masks and freezes docker's paths there.
func (Step) Init(ctx *steps.Context) error {
	if ctx.Spec.Unmasked {
		ctx.Tracef("no masked or read-only paths (--privileged or systempaths=unconfined)")
		return nil
	}
	masked, readonly := MaskedPaths, ReadonlyPaths
	if o := ctx.Spec.OCI; o != nil {
		masked, readonly = o.MaskedPaths, o.ReadonlyPaths // the config's, in place of docker's
	}
	for _, p := range masked {
		if err := mask(ctx, p); err != nil {
			return err
		}
	}
	for _, p := range readonly {
		if err := readOnly(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// PreUser runs before the switch to --user: see BeforeUser.
func (Step) PreUser(ctx *steps.Context) error { return BeforeUser(ctx) }

// PreExec runs just before execve: see BeforeExec.
func (Step) PreExec(ctx *steps.Context) error { return BeforeExec(ctx) }

// BeforeUser and BeforeExec are step 9's part in starting any process in
// the container, around the engine's switch to --user (steps.SwitchUser):
// PreUser and PreExec call them, and so may a command that starts another
// process in a running container, to give it the same capabilities and
// filter. They read ctx.Spec, as Validate filled it in.
//
// The order is runc's, and the kernel's rules make it:
//   - the bounding set is cut while the process has CAP_SETPCAP;
//   - PR_SET_KEEPCAPS keeps the permitted set across setuid(2) to another
//     user, which would otherwise empty it, so the final sets can still be
//     set after the switch, by capset(2);
//   - seccomp(2) needs no_new_privs or CAP_SYS_ADMIN. With no_new_privs the
//     filter goes last, so it sees only the execve; without, it goes first,
//     while the container's root has every capability, and the calls after
//     it (prctl, setgroups, setgid, setuid, chdir, capset, execve) are ones
//     the profile must allow (docker's does).
func BeforeUser(ctx *steps.Context) error {
	if err := FilterEarly(ctx); err != nil {
		return err
	}
	keep, last, err := Wanted(ctx.Spec)
	if err != nil {
		return err
	}
	if err := dropBounding(ctx, keep, last); err != nil {
		return err
	}
	ctx.Tracef("prctl(PR_SET_KEEPCAPS, 1): the permitted set survives the switch to --user")
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS, 1): %w", err)
	}
	return nil
}

// BeforeExec sets the final capability sets, then no_new_privs and the
// filter, as the last things before execve(2).
func BeforeExec(ctx *steps.Context) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS, 0): %w", err)
	}
	keep, _, err := Wanted(ctx.Spec)
	if err != nil {
		return err
	}
	eff, perm, inh, amb := keep, keep, uint64(0), uint64(0)
	if o := ctx.Spec.OCI; o != nil && o.Caps != nil {
		eff, perm, inh, amb = capMask(o.Caps.Effective), capMask(o.Caps.Permitted), capMask(o.Caps.Inheritable), capMask(o.Caps.Ambient)
	}
	if err := setCaps(ctx, eff, perm, inh, amb); err != nil {
		return err
	}
	return FilterLast(ctx)
}

// Wanted is the mask of the container's capabilities (bit n for capability
// n), and the highest capability this kernel has: spec.Caps, or every one
// the kernel has with --privileged (some may be newer than mini's table).
func Wanted(spec *steps.Spec) (keep uint64, last int, err error) {
	last = lastCap()
	all := uint64(1)<<(last+1) - 1
	if spec.Privileged {
		return all, last, nil
	}
	keep = capMask(spec.Caps)
	if extra := keep &^ all; extra != 0 {
		return 0, 0, fmt.Errorf("capabilities %s are newer than this kernel, whose last is %s: drop them", capList(extra), capName(last))
	}
	return keep, last, nil
}

// FilterEarly installs the seccomp filter now, while the container's root
// still has every capability, when the container runs without no_new_privs:
// seccomp(2) then demands CAP_SYS_ADMIN, which the final sets may lack.
func FilterEarly(ctx *steps.Context) error {
	if ctx.Spec.Seccomp == nil || ctx.Spec.NoNewPrivileges {
		return nil
	}
	ctx.Tracef("no no_new_privs: the filter goes on now, while CAP_SYS_ADMIN is still there")
	return loadFilter(ctx, ctx.Spec.Seccomp, ctx.Spec.SeccompFlags)
}

// FilterLast sets no_new_privs (prctl(2), Linux 3.5: execve can no longer
// raise privileges, through set-user-ID bits or file capabilities; kept
// across fork and execve, and never unset), when asked, and then installs
// the filter, the last thing before execve.
func FilterLast(ctx *steps.Context) error {
	if !ctx.Spec.NoNewPrivileges {
		return nil
	}
	ctx.Tracef("prctl(PR_SET_NO_NEW_PRIVS, 1)")
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if ctx.Spec.Seccomp == nil {
		return nil
	}
	return loadFilter(ctx, ctx.Spec.Seccomp, ctx.Spec.SeccompFlags)
}
