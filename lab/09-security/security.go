// Package security is your step 9: docker's masked and read-only paths in
// /proc and /sys, and docker's capability sets. The seccomp filter, which
// mini compiles from docker's profile (steps/09-security/bpf.go), is given;
// lab/09-security/onerule has you assemble one by hand. Fill in the TODOs in
// order; after each one, run
//
//	sudo bin/mini run --step 9 --lab --net none rootfs/busybox sh -c 'grep Cap /proc/self/status; cat /proc/keys'
//
// and the error tells you the next TODO. Then check your work against the
// scenarios mini itself must pass:
//
//	sudo make lab-check STEP=9
//
// The exercise is lab/09-security/README.md; mini's own version, the
// solution, is steps/09-security/security.go, paths.go and caps.go.
package security

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"mini/steps"
	ref "mini/steps/09-security"
)

// Step is your step 9. It embeds mini's own, so the hooks you do not write
// are mini's (steps/09-security/security.go): Number, Name, and Validate,
// which decides everything on the host and puts it in the spec: the
// capabilities (ctx.Spec.Caps, docker's 14 with --cap-add and --cap-drop),
// no_new_privs, and the compiled seccomp filter. You write Init, PreUser and
// PreExec; yours take the place of mini's.
type Step struct{ ref.Step }

// Init runs in the child once / is the image and step 3 has mounted /proc
// and /sys.
func (Step) Init(ctx *steps.Context) error {
	if ctx.Spec.Unmasked {
		return nil // --privileged or --security-opt systempaths=unconfined
	}
	for _, p := range ref.MaskedPaths {
		// TODO 1: hide p, if this kernel has it (os.Stat; skip a path that
		// does not exist): a directory under an empty tmpfs mounted
		// read-only (steps.Mount(ctx, "tmpfs", p, "tmpfs", unix.MS_RDONLY, "")),
		// a file under a bind mount of /dev/null, which reads as empty.
		return errors.New("TODO 1 in lab/09-security/security.go: mask " + p)
	}
	for _, p := range ref.ReadonlyPaths {
		// TODO 2: make p read-only, if it exists: bind it onto itself
		// (MS_BIND|MS_REC), then remount that bind MS_BIND|MS_REMOUNT|
		// MS_RDONLY. In a user namespace the kernel refuses a remount that
		// drops the flags the mount has (/proc's nosuid, nodev, noexec):
		// keep them (unix.Statfs tells which: ST_NOSUID ...).
		return errors.New("TODO 2 in lab/09-security/security.go: make " + p + " read-only")
	}
	return nil
}

// PreUser runs in the child after every step's Init, while it is still the
// container's root with every capability, just before the engine switches
// to --user (steps.SwitchUser).
func (Step) PreUser(ctx *steps.Context) error {
	// Given: without no_new_privs, mini's filter goes on now (seccomp(2)
	// needs CAP_SYS_ADMIN then, which the final sets may lack).
	if err := ref.FilterEarly(ctx); err != nil {
		return err
	}
	// keep: bit n for capability n; last: the kernel's last capability.
	keep, last, err := ref.Wanted(ctx.Spec)
	if err != nil {
		return err
	}
	_, _ = keep, last
	// TODO 3: cut the bounding set: for every capability 0..last whose bit
	// is not in keep, prctl(PR_CAPBSET_DROP, n) (unix.Prctl). No execve can
	// give those back, not even a set-user-ID-root program's. Trace what you
	// drop.
	//
	// TODO 4: prctl(PR_SET_KEEPCAPS, 1): setuid(2) to a user other than root
	// empties the permitted set, unless this is set; PreExec needs it to set
	// the final sets after the switch.
	return errors.New("TODO 3 in lab/09-security/security.go: drop the bounding set")
}

// PreExec runs last, after the switch to --user, just before execve(2).
func (Step) PreExec(ctx *steps.Context) error {
	keep, _, err := ref.Wanted(ctx.Spec)
	if err != nil {
		return err
	}
	_ = keep
	// TODO 5: prctl(PR_SET_KEEPCAPS, 0); then capset(2) (unix.Capset, with
	// a unix.CapUserHeader of version unix.LINUX_CAPABILITY_VERSION_3 and
	// two unix.CapUserData, the low and the high 32 bits of each set):
	// effective = permitted = keep, inheritable = 0. Then empty the ambient
	// set: prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL).
	return errors.New("TODO 5 in lab/09-security/security.go: set the final capabilities")
	// Given, after your TODO 5: no_new_privs if asked, and then the filter.
	// return ref.FilterLast(ctx)
}

// Go refuses to build a file with an import it does not use. This line uses
// the packages your TODOs need before you write them, and those only the
// TODOs' errors use (errors) after you have written the last: it keeps the
// file building at every TODO. Delete it once you are done (and then any
// import Go says is unused).
var _ = []any{errors.New, unix.Prctl, os.Stat}
