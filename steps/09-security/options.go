package security

import (
	"fmt"
	"strconv"
	"strings"
)

// options are the --security-opt values mini knows, docker's names.
type options struct {
	noNewPrivs bool
	seccomp    string // "": docker's default profile; "unconfined"; else a profile file
	unmasked   bool   // systempaths=unconfined
}

// parseOptions reads --security-opt as docker does: no-new-privileges[=BOOL],
// seccomp=unconfined|PROFILE.json, systempaths=unconfined. AppArmor and
// SELinux labels are refused: mini has neither.
func parseOptions(opts []string) (options, error) {
	var o options
	for _, opt := range opts {
		k, v, hasValue := strings.Cut(opt, "=")
		switch {
		case k == "no-new-privileges":
			o.noNewPrivs = true
			if hasValue {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return o, fmt.Errorf("--security-opt %s: want no-new-privileges, or =true or =false", opt)
				}
				o.noNewPrivs = b
			}
		case k == "seccomp" && v != "":
			o.seccomp = v
		case k == "systempaths" && v == "unconfined":
			o.unmasked = true
		case k == "apparmor" || k == "label":
			return o, fmt.Errorf("--security-opt %s: mini has no AppArmor or SELinux: use seccomp=, no-new-privileges or systempaths=unconfined", opt)
		default:
			return o, fmt.Errorf("--security-opt %q: want no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json or systempaths=unconfined", opt)
		}
	}
	return o, nil
}
