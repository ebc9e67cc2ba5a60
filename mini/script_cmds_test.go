package main

import (
	"errors"
	"fmt"
	"os/exec"
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// tKey is where Setup keeps the scenario's testing.T, so require can skip.
type tKeyType struct{}

var tKey tKeyType

// condition answers the [name] conditions scenarios use.
func condition(cond string) (bool, error) {
	switch cond {
	case "root":
		return os.Geteuid() == 0, nil
	case "cgroup2":
		return isCgroup2(), nil
	case "cgroup1":
		return !isCgroup2(), nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// isCgroup2 is true on a pure cgroup v2 host (/sys/fs/cgroup is cgroup2).
func isCgroup2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

var commands = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"require": cmdRequire,
	"bad":     cmdBad,
}

// bad ARG...: "mini run ARG..." must fail as bad input does: exit 125, one
// line on stderr that starts with "mini: ", nothing on stdout, and no
// container state left under $MINI_ROOT. The output stays for stderr checks.
func cmdBad(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! bad")
	}
	err := ts.Exec("mini", append([]string{"run"}, args...)...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 {
		ts.Fatalf("want exit status 125, got %v", err)
	}
	if out := ts.ReadFile("stdout"); out != "" {
		ts.Fatalf("want nothing on stdout, got %q", out)
	}
	stderr := ts.ReadFile("stderr")
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "mini: ") || !strings.HasSuffix(stderr, "\n") {
		ts.Fatalf("want one line on stderr starting with \"mini: \", got %q", stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(ts.Getenv("MINI_ROOT"), "containers", "*")); len(left) > 0 {
		ts.Fatalf("left behind: %v", left)
	}
}

// require NEED...: skip the scenario unless each need is met; with
// MINI_NO_SKIP=1 an unmet need fails it instead. Needs: root, image.
func cmdRequire(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! require")
	}
	for _, need := range args {
		var why string
		switch need {
		case "root":
			if os.Geteuid() != 0 {
				why = "needs root (run the tests with sudo)"
			}
		case "image":
			if _, err := os.Stat(filepath.Join(ts.Getenv("IMAGE"), "bin/busybox")); err != nil {
				why = "needs the busybox image: run 'make rootfs'"
			}
		default:
			if ok, err := condition(need); err != nil {
				ts.Fatalf("require: %v", err)
			} else if !ok {
				why = "needs " + need
			}
		}
		if why == "" {
			continue
		}
		if strings.TrimSpace(ts.Getenv(noSkipVar)) == "1" {
			ts.Fatalf("%s, and %s=1 forbids skipping", why, noSkipVar)
		}
		ts.Value(tKey).(testscript.T).Skip(why)
	}
}
