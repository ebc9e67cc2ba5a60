package security

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"

	"mini/steps"
)

// validateOCI is Validate for a container made from an OCI config: its
// five capability sets, its no_new_privs and its seccomp profile are the
// config's (process.capabilities, linux.seccomp), compiled here; its
// masked and read-only paths are the config's too (Init).
func validateOCI(ctx *steps.Context) error {
	spec, o := ctx.Spec, ctx.Spec.OCI
	spec.Caps, spec.Unmasked = nil, false
	if c := o.Caps; c != nil {
		for _, set := range []struct {
			name  string
			names []string
		}{{"bounding", c.Bounding}, {"effective", c.Effective}, {"permitted", c.Permitted}, {"inheritable", c.Inheritable}, {"ambient", c.Ambient}} {
			for _, n := range set.names {
				if _, ok := capNumber(n); !ok {
					return fmt.Errorf("process.capabilities.%s: unknown capability %q: see capabilities(7) for the names (CAP_NET_ADMIN)", set.name, n)
				}
			}
		}
		spec.Caps = c.Bounding
		// The kernel keeps an ambient capability only if it is permitted
		// and inheritable too (capabilities(7)): one that is not is left
		// out, as runc leaves it, and said so.
		can := capMask(c.Permitted) & capMask(c.Inheritable)
		var kept []string
		for _, n := range c.Ambient {
			if nr, _ := capNumber(n); can&(1<<nr) != 0 {
				kept = append(kept, n)
			} else {
				ctx.Notef("process.capabilities.ambient %s is not both permitted and inheritable: the kernel keeps no such ambient capability; left out", n)
			}
		}
		c.Ambient = kept
	}
	ctx.Tracef("capabilities: bounding %s", capList(capMask(spec.Caps)))
	if o.Seccomp == nil {
		ctx.Tracef("seccomp: the config has none: no filter")
		return nil
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(o.Seccomp, &p); err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	f := filter{what: "linux.seccomp", profile: &p}
	f.prog, f.flags, f.err = compile(&p, f.what, spec.Trace)
	return useFilter(ctx, f)
}

// Supported is what step 9 knows of the runtime spec, for mini features:
// the capabilities, and the seccomp actions, operators, architectures and
// flags compile takes.
func Supported() (caps, actions, operators, archs, flags []string) {
	for _, c := range capNames {
		caps = append(caps, c.name)
	}
	for _, a := range []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap, specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog} {
		actions = append(actions, string(a))
	}
	for _, o := range []specs.LinuxSeccompOperator{specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual} {
		operators = append(operators, string(o))
	}
	for _, t := range tables {
		archs = append(archs, t.arch)
	}
	flags = []string{string(specs.LinuxSeccompFlagLog), string(specs.LinuxSeccompFlagSpecAllow), "SECCOMP_FILTER_FLAG_TSYNC"}
	return caps, actions, operators, archs, flags
}

// CapMask is the mask of capabilities names (bit n for capability n);
// field names them in an error.
func CapMask(field string, names []string) (uint64, error) {
	for _, n := range names {
		if _, ok := capNumber(n); !ok {
			return 0, fmt.Errorf("%s: unknown capability %q: see capabilities(7) for the names (CAP_NET_ADMIN)", field, n)
		}
	}
	return capMask(names), nil
}
