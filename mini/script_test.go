package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"mini/mini/container"
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
	imageBefore := treeListing(t, image)
	var mu sync.Mutex
	var leaks []string
	t.Cleanup(func() {
		for _, l := range leaks {
			t.Error(l)
		}
		if diff := cmp.Diff(imageBefore, treeListing(t, image)); diff != "" {
			t.Errorf("a scenario changed the image %s (-before +after):\n%s", image, diff)
		}
		if after := mountCount(t); after != before {
			t.Errorf("the host's mount table had %d entries before the scenarios and %d after", before, after)
		}
	})
	// testscript removes its own directory only after a run of every
	// scenario, so a run of some (-run, make lab-check) would leave it in
	// $TMPDIR: the scenarios get a directory of this test's instead.
	root, err := os.MkdirTemp("", "mini-scenarios-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	testscript.Run(t, testscript.Params{
		Dir:         "testdata/script",
		WorkdirRoot: root,
		Setup: func(env *testscript.Env) error {
			env.Setenv("IMAGE", image)
			env.Setenv("MINI_ROOT", filepath.Join(env.WorkDir, "state"))
			env.Setenv(noSkipVar, os.Getenv(noSkipVar))
			// make lab-check STEP=N: the learner's step N stands in for mini's.
			env.Setenv(labEnv, os.Getenv(labEnv))
			env.Values[tKey] = env.T()
			// From step 5 on the container's root is an unprivileged host
			// uid, and at step 8 it mounts its layers under $MINI_ROOT: it
			// must pass through $WORK's parent, which testscript makes 0700.
			if err := os.Chmod(filepath.Dir(env.WorkDir), 0o711); err != nil {
				return err
			}
			if err := setupNet(env, &mu, &leaks); err != nil {
				return err
			}
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
				// Nor a cgroup: each one mini made has a record under
				// $MINI_ROOT/cgroups until it is gone. A left one is a
				// failure, and is removed here, so a failed scenario does
				// not leave it on the host.
				for _, dir := range leftCgroups(filepath.Join(work, "state")) {
					mu.Lock()
					leaks = append(leaks, "left a cgroup on the host: "+dir)
					mu.Unlock()
				}
			})
			// Registered last, so it runs first: a container left running
			// (run -d without stop or rm) is a failure, and is killed, so
			// that the checks above see what it held go.
			env.Defer(func() {
				for _, id := range leftRunning(filepath.Join(work, "state")) {
					mu.Lock()
					leaks = append(leaks, "left a container running: "+id)
					mu.Unlock()
				}
			})
			return nil
		},
		Condition: condition,
		Cmds:      commands,
	})
}

// leftCgroups lists the cgroup directories whose records are still under
// root/cgroups, and removes them: it kills what is in them, then rmdirs.
func leftCgroups(root string) []string {
	paths, _ := filepath.Glob(filepath.Join(root, "cgroups", "*.json"))
	var left []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		var r struct{ Dirs []string }
		if err != nil || json.Unmarshal(data, &r) != nil {
			continue
		}
		for _, dir := range r.Dirs {
			if _, err := os.Stat(dir); err != nil {
				continue
			}
			left = append(left, dir)
			for try := 0; try < 100 && unix.Rmdir(dir) == unix.EBUSY; try++ {
				procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
				for _, f := range strings.Fields(string(procs)) {
					if pid, err := strconv.Atoi(f); err == nil {
						unix.Kill(pid, unix.SIGKILL)
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	return left
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

// treeListing lists every path under dir with its type and size: the
// scenarios may write into the image only to show it, and must clean up.
func treeListing(t testing.TB, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size := info.Size()
		if d.IsDir() {
			size = 0 // a directory's size may grow with use and never shrink
		}
		out = append(out, fmt.Sprintf("%s %s %d", path, info.Mode(), size))
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// leftRunning lists the containers under root whose mini (a monitor, or a
// mini run) still runs, and kills that mini: its container dies with it.
func leftRunning(root string) []string {
	states, _ := container.List(root)
	var left []string
	for _, s := range states {
		if !s.Holder.Alive() {
			continue
		}
		left = append(left, s.ID+" ("+s.Name+")")
		if fd, err := unix.PidfdOpen(s.Holder.PID, 0); err == nil {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 10000)
			unix.Close(fd)
		}
		container.Refresh(s, recipe, io.Discard) // what it held
	}
	return left
}
