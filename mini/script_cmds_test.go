package main

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/profiles/seccomp"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
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
	case "registry": // the image scenarios' registry server and its client
		_, err1 := exec.LookPath("docker-registry")
		_, err2 := exec.LookPath("skopeo")
		return err1 == nil && err2 == nil, nil
	case "podman":
		_, err := exec.LookPath("podman")
		return err == nil, nil
	case "buildah":
		_, err := exec.LookPath("buildah")
		return err == nil, nil
	}
	// [exists:/proc/kcore]: this kernel has the file (step 9's probes).
	if path, ok := strings.CutPrefix(cond, "exists:"); ok {
		_, err := os.Stat(path)
		return err == nil, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// isCgroup2 is true on a pure cgroup v2 host (/sys/fs/cgroup is cgroup2).
func isCgroup2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

var commands = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"require":        cmdRequire,
	"bad":            cmdBad,
	"hostipc":        cmdHostIPC,
	"droprules":      cmdDropRules,
	"probeimage":     cmdProbeImage,
	"seccompprofile": cmdSeccompProfile,
	"badcmd":         cmdBadCmd,
	"waitfile":       cmdWaitFile,
	"waitexit":       cmdWaitExit,
	"ttyrun":         cmdTtyRun,
	"retry":          cmdRetry,
	"freeport":       cmdFreePort,
	"dial":           cmdDial,
}

// bad ARG...: "mini run ARG..." must fail as bad input does: exit 125, one
// line on stderr that starts with "mini: ", nothing on stdout, and no new
// container state left under $MINI_ROOT. The output stays for stderr checks.
func cmdBad(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! bad")
	}
	cmdBadCmd(ts, neg, append([]string{"run"}, args...))
}

// badcmd CMD ARG...: "mini CMD ARG..." must fail as bad does.
func cmdBadCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: badcmd CMD ARG...")
	}
	// Containers that ran before are kept (step 8 keeps a container's
	// layers without --rm, as docker does): only new ones count.
	containers := filepath.Join(ts.Getenv("MINI_ROOT"), "containers", "*")
	before, _ := filepath.Glob(containers)
	err := ts.Exec("mini", args...)
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
	if after, _ := filepath.Glob(containers); len(after) > len(before) {
		ts.Fatalf("left behind: %v (before: %v)", after, before)
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
		case "static":
			if !staticBinary() {
				why = "needs a static test binary, which runs inside the container (--init): CGO_ENABLED=0 go test, as make test does"
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

// hostipc create|remove: make on the host, or remove, a System V message
// queue (msgget(2)) and a POSIX shared memory object (a file in /dev/shm,
// shm_overview(7)), for step 4's scenario. create sets $MSQID, the queue's
// id as /proc/sysvipc/msg lists it, and $SHMFILE, /dev/shm/mini-test-$MSQID;
// both are removed at the end of the scenario anyway, with any $SHMFILE.*.
func cmdHostIPC(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || args[0] != "create" && args[0] != "remove" {
		ts.Fatalf("usage: hostipc create|remove")
	}
	if args[0] == "remove" {
		ts.Check(removeHostIPC(ts.Getenv("MSQID"), ts.Getenv("SHMFILE")))
		return
	}
	id, _, errno := unix.Syscall(unix.SYS_MSGGET, unix.IPC_PRIVATE, unix.IPC_CREAT|0o600, 0)
	if errno != 0 {
		ts.Fatalf("msgget: %v", errno)
	}
	msqid := fmt.Sprint(id)
	shm := "/dev/shm/mini-test-" + msqid
	ts.Defer(func() {
		if err := removeHostIPC(msqid, shm); err != nil {
			ts.Value(tKey).(testscript.T).Fatal("left on the host: ", err)
		}
	})
	ts.Check(os.WriteFile(shm, []byte("host\n"), 0o644))
	ts.Setenv("MSQID", msqid)
	ts.Setenv("SHMFILE", shm)
}

// removeHostIPC removes what hostipc create made; what is gone already is fine.
func removeHostIPC(msqid, shm string) error {
	var id int
	if _, err := fmt.Sscan(msqid, &id); err == nil {
		_, _, errno := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), unix.IPC_RMID, 0)
		if errno != 0 && errno != unix.EINVAL {
			return fmt.Errorf("msgctl %d IPC_RMID: %w", id, errno)
		}
	}
	if shm == "" {
		return nil
	}
	files, _ := filepath.Glob(shm + ".*")
	for _, f := range append(files, shm) {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// probeimage DIR: a copy of $IMAGE in DIR with the probe as /probe: the
// program testdata/probe, which tries what a hostile image would and prints
// the errno it gets (step 9's scenarios). It is built once per test run,
// static (CGO_ENABLED=0), so that it runs in the busybox image.
func cmdProbeImage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: probeimage DIR")
	}
	bin, err := buildProbe()
	ts.Check(err)
	dir := ts.MkAbs(args[0])
	if out, err := exec.Command("cp", "-a", ts.Getenv("IMAGE"), dir).CombinedOutput(); err != nil {
		ts.Fatalf("cp -a $IMAGE %s: %v: %s", dir, err, out)
	}
	data, err := os.ReadFile(bin)
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(dir, "probe"), data, 0o755))
}

// probe is the probe's binary, built by the first probeimage; removed by
// TestMain when the tests end.
var probe struct {
	once sync.Once
	dir  string
	err  error
}

func buildProbe() (string, error) {
	probe.once.Do(func() {
		if probe.dir, probe.err = os.MkdirTemp("", "mini-probe-"); probe.err != nil {
			return
		}
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		cmd := exec.Command(gobin, "build", "-o", filepath.Join(probe.dir, "probe"), "./testdata/probe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			probe.err = fmt.Errorf("build the probe: %v: %s", err, out)
		}
	})
	return filepath.Join(probe.dir, "probe"), probe.err
}

// seccompprofile FILE [NAME...]: write docker's default seccomp profile to
// FILE, in docker's format, without the system calls NAME...: a profile
// that refuses what docker's allows.
func cmdSeccompProfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: seccompprofile FILE [NAME...]")
	}
	p := seccomp.DefaultProfile()
	for _, sc := range p.Syscalls {
		var keep []string
		for _, n := range sc.Names {
			if !slices.Contains(args[1:], n) {
				keep = append(keep, n)
			}
		}
		sc.Names = keep
	}
	data, err := json.MarshalIndent(p, "", "\t")
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), data, 0o644))
}

// waitfile FILE REGEXP: wait until FILE (a glob: any file it matches)
// exists and holds a match of REGEXP (multi-line mode), for at most ten
// seconds: what a background command (mini logs -f, a detached
// container's log) writes is awaited this way, never with a sleep.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfile FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	var data []byte
	err = fmt.Errorf("no file matches")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		paths, _ := filepath.Glob(ts.MkAbs(args[0]))
		for _, p := range paths {
			if data, err = os.ReadFile(p); err == nil && re.Match(data) {
				return
			}
		}
	}
	ts.Fatalf("%s: no match for %q within 10s; it holds %q (%v)", args[0], args[1], data, err)
}

// waitexit FILE: wait until the process whose pid FILE holds has exited
// (its pidfd becomes readable, pidfd_open(2)), for at most ten seconds. A
// monitor's pid comes from mini inspect -f '{{.Mini.HolderPid}}'.
func cmdWaitExit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitexit PIDFILE")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	ts.Check(err)
	defer unix.Close(fd)
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 10000)
	ts.Check(err)
	if n == 0 {
		ts.Fatalf("pid %d has not exited within 10s", pid)
	}
}

// retry PROG ARG...: run PROG until it succeeds, for at most ten seconds:
// a state that comes in its own time (a process exits, a zombie is reaped)
// is awaited this way, never with a sleep.
func cmdRetry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: retry PROG ARG...")
	}
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = ts.Exec(args[0], args[1:]...); err == nil {
			return
		}
	}
	ts.Fatalf("%s did not succeed within 10s: %v", strings.Join(args, " "), err)
}

// staticBinary says whether this test binary, which stands in for mini, is
// linked statically: it has no ELF interpreter (PT_INTERP) to find.
func staticBinary() bool {
	exe, err := os.Executable()
	if err != nil {
		return false
	}
	f, err := elf.Open(exe)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
