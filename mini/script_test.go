package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"mini/mini/container"
	"mini/mini/image/transfer"
)

// noSkipVar, when set to 1, turns every "require" that is not met into a
// failure: CI sets it, so a green run means the containers really ran.
const noSkipVar = "MINI_NO_SKIP"

// netnsVar is set in the test binary that runs in a network namespace of
// its own (see TestMain).
const netnsVar = "MINI_TEST_NETNS"

// commands are the programs scenarios run as this test binary again,
// named for them (testscript.RunMain).
var testCommands = map[string]func() int{
	"mini":       Main,
	"mini-image": func() int { return transfer.Main(os.Args[1:]) },
}

func TestMain(m *testing.M) {
	// As root, the tests run in a network namespace of their own: every
	// bridge, veth, route, iptables rule and sysctl a scenario makes mini
	// make is made there, and goes with it. The host's network is never
	// touched. Only "go test"'s own run of this binary moves there: the
	// commands testscript runs as this binary again (named mini,
	// mini-image), and the test binaries the lab tests start, are inside
	// already ($MINI_TEST_NETNS is "ready" for them).
	if testCommands[filepath.Base(os.Args[0])] == nil && os.Geteuid() == 0 {
		switch os.Getenv(netnsVar) {
		case "":
			os.Exit(inNetns())
		case "1":
			if err := setupNetns(); err != nil {
				fmt.Fprintf(os.Stderr, "the tests' network namespace: %v\n", err)
				os.Exit(2)
			}
			os.Setenv(netnsVar, "ready")
		}
	}
	code := testscript.RunMain(m, testCommands)
	if probe.dir != "" {
		os.RemoveAll(probe.dir)
	}
	os.Exit(code)
}

// setupNetns makes the tests' network namespace look like a host's: lo
// up, and a sysfs of its own on /sys, so that /sys/class/net lists its
// links, as a host's does. sysfs shows the links of the namespace that
// mounts it. The new /sys would hide the cgroup file systems under
// /sys/fs/cgroup: a copy of that tree is taken first (open_tree with
// OPEN_TREE_CLONE and AT_RECURSIVE) and put back on the new /sys. The /sys
// mount is made private first, so the new one does not propagate to the
// host's mount namespace.
func setupNetns() error {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("ip link set lo up: %w", err)
	}
	cgroups, err := unix.OpenTree(unix.AT_FDCWD, "/sys/fs/cgroup", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("open_tree /sys/fs/cgroup: %w", err)
	}
	defer unix.Close(cgroups)
	if err := unix.Mount("", "/sys", "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("mount --make-private /sys: %w", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount sysfs on /sys: %w", err)
	}
	if err := unix.MoveMount(cgroups, "", unix.AT_FDCWD, "/sys/fs/cgroup", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount the cgroup tree onto /sys/fs/cgroup: %w", err)
	}
	return nil
}

// inNetns runs this test binary again, with the same arguments, in a new
// network namespace and mount namespace (clone(2) with CLONE_NEWNET and
// CLONE_NEWNS; see setupNetns), and returns its exit code.
func inNetns() int {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsVar+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "run the tests in a network namespace of their own: %v\n", err)
		return 2
	}
	return 0
}

// TestScripts runs the scenarios in testdata/script. Each runs real
// containers; see testdata/script/README.md for the conventions.
func TestScripts(t *testing.T) {
	image, err := filepath.Abs("../rootfs/busybox")
	if err != nil {
		t.Fatal(err)
	}
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	// Scenarios build small probes of testdata with go: it needs its caches,
	// which testscript's $HOME (/no-home) does not lead to.
	goEnv, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	goCaches := strings.Fields(string(goEnv))
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
			// make lab-check STEP=N: only the scenarios that check step N.
			if lab := os.Getenv(labEnv); lab != "" && !checksLab(strings.TrimPrefix(filepath.Base(env.WorkDir), "script-"), lab) {
				env.T().Skip("not a scenario of lab " + lab)
			}
			env.Setenv("IMAGE", image)
			env.Setenv("TESTDATA", testdata)
			env.Setenv("GOCACHE", goCaches[0])
			env.Setenv("GOMODCACHE", goCaches[1])
			env.Setenv("MINI_ROOT", filepath.Join(env.WorkDir, "state"))
			// Images too, and no credentials of the host's.
			env.Setenv("MINI_DATA_ROOT", filepath.Join(env.WorkDir, "data"))
			env.Setenv("DOCKER_CONFIG", filepath.Join(env.WorkDir, ".docker"))
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
		// steps/07-cgroups/internal/record's shape: Dirs by controller
		// ("" on v2), then the cgroups made above them (a config's
		// cgroupsPath), parents first.
		var r struct {
			Dirs map[string]string
			Made []string
		}
		if err != nil || json.Unmarshal(data, &r) != nil {
			left = append(left, "unreadable cgroup record "+p)
			continue
		}
		dirs := slices.Sorted(maps.Values(r.Dirs))
		for i := len(r.Made) - 1; i >= 0; i-- {
			dirs = append(dirs, r.Made[i])
		}
		for _, dir := range slices.Compact(dirs) {
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
