package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// noSkipVar, when set to 1, turns every "require" that is not met into a
// failure: CI sets it, so a green run means the containers really ran.
const noSkipVar = "MINI_NO_SKIP"

func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{"mini": Main}))
}

// TestScripts runs the scenarios in testdata/script. Each runs real
// containers; see testdata/script/README.md for the conventions.
func TestScripts(t *testing.T) {
	image, err := filepath.Abs("../rootfs/busybox")
	if err != nil {
		t.Fatal(err)
	}
	before := mountCount(t)
	var mu sync.Mutex
	var leaks []string
	t.Cleanup(func() {
		for _, l := range leaks {
			t.Error(l)
		}
		if after := mountCount(t); after != before {
			t.Errorf("the host's mount table had %d entries before the scenarios and %d after", before, after)
		}
	})
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("IMAGE", image)
			env.Setenv("MINI_ROOT", filepath.Join(env.WorkDir, "state"))
			env.Setenv(noSkipVar, os.Getenv(noSkipVar))
			env.Values[tKey] = env.T()
			work := env.WorkDir
			env.Defer(func() {
				// Nothing mini made may stay mounted on the host: not the
				// image, not anything under the scenario's directory.
				for _, m := range mountPoints(t) {
					if strings.HasPrefix(m, work) || strings.HasPrefix(m, image) {
						mu.Lock()
						leaks = append(leaks, "left mounted on the host: "+m)
						mu.Unlock()
					}
				}
			})
			return nil
		},
		Condition: condition,
		Cmds:      commands,
	})
}

// mountPoints lists the host's mount points (field 5 of mountinfo).
func mountPoints(t testing.TB) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 {
			out = append(out, fields[4])
		}
	}
	return out
}

func mountCount(t testing.TB) int { return len(mountPoints(t)) }
