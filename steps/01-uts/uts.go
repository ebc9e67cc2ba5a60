// Package uts is step 1: the UTS namespace gives the container its own
// hostname. See docs/01-uts.md and uts_namespaces(7).
package uts

import (
	"fmt"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Step is step 1.
type Step struct{}

func (Step) Number() int  { return 1 }
func (Step) Name() string { return "uts" }

// CloneFlags: the child gets a copy of the host's hostname and domain name
// that it may change without touching the host's.
func (Step) CloneFlags(ctx *steps.Context) uintptr {
	if !ctx.Spec.OCI.NewNS("uts") {
		ctx.Tracef("no CLONE_NEWUTS: the child is born in the UTS namespace this thread joined (mini/oci)")
		return 0
	}
	ctx.Tracef("CLONE_NEWUTS: a new UTS namespace")
	return unix.CLONE_NEWUTS
}

// Validate checks the hostname as the kernel will: at most 64 bytes
// (HOST_NAME_MAX). Docker also rejects what is not a valid DNS label. An
// OCI config may give none: the namespace keeps the copy of the host's.
func (Step) Validate(ctx *steps.Context) error {
	h := ctx.Spec.Hostname
	if h == "" && ctx.Spec.OCI != nil {
		return nil
	}
	if len(h) == 0 || len(h) > 64 {
		return fmt.Errorf("--hostname %q: must be 1 to 64 characters", h)
	}
	for i, c := range h {
		ok := c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !ok || (c == '-' || c == '.') && (i == 0 || i == len(h)-1) {
			return fmt.Errorf("--hostname %q: use letters, digits, '-' and '.', not at the ends", h)
		}
	}
	return nil
}

// Init sets the hostname inside the new namespace, and the NIS domain
// name if an OCI config gives one.
func (Step) Init(ctx *steps.Context) error {
	if h := ctx.Spec.Hostname; h != "" {
		ctx.Tracef("sethostname(%q)", h)
		if err := unix.Sethostname([]byte(h)); err != nil {
			return fmt.Errorf("sethostname %q: %w", h, err)
		}
	}
	if d := ctx.Spec.OCI.Domain(); d != "" {
		ctx.Tracef("setdomainname(%q)", d)
		if err := unix.Setdomainname([]byte(d)); err != nil {
			return fmt.Errorf("setdomainname %q: %w", d, err)
		}
	}
	return nil
}
