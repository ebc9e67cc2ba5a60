package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

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
	"pty":            cmdPty,
	"droprules":      cmdDropRules,
	"probeimage":     cmdProbeImage,
	"seccompprofile": cmdSeccompProfile,
}

// bad ARG...: "mini run ARG..." must fail as bad input does: exit 125, one
// line on stderr that starts with "mini: ", nothing on stdout, and no new
// container state left under $MINI_ROOT. The output stays for stderr checks.
func cmdBad(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! bad")
	}
	// Containers that ran before are kept (step 8 keeps a container's
	// layers without --rm, as docker does): only new ones count.
	containers := filepath.Join(ts.Getenv("MINI_ROOT"), "containers", "*")
	before, _ := filepath.Glob(containers)
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

// pty CMD [ARG...]: run CMD with a new pseudo-terminal as its stdin, stdout,
// stderr and controlling terminal, as a shell in a terminal window runs it;
// what it writes to the terminal becomes stdout. Whatever is still queued
// as input on the terminal when CMD exits (keystrokes a program pushed
// with ioctl TIOCSTI) is reported on stderr as "typed: ...".
func cmdPty(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: pty CMD [ARG...]")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	ts.Check(err)
	defer ptmx.Close()
	ts.Check(unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetUint32(int(ptmx.Fd()), unix.TIOCGPTN)
	ts.Check(err)
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	ts.Check(err)
	defer tty.Close()
	// No echo: input pushed into the terminal is not printed back, and is
	// found in the input queue instead (FIONREAD on the terminal).
	t, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	ts.Check(err)
	t.Lflag &^= unix.ECHO
	ts.Check(unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, t))

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = os.Environ()
	for _, kv := range []string{"IMAGE", "MINI_ROOT", "MINI_BRIDGE", "MINI_SUBNET", "PATH"} {
		cmd.Env = append(cmd.Env, kv+"="+ts.Getenv(kv))
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	var out strings.Builder
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
		}
		close(done)
	}()
	runErr := cmd.Run()
	queued, _ := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCINQ)
	var typed string
	if queued > 0 {
		// In canonical mode a read returns one line: read them all.
		// (fd once: os.File.Fd puts the file back in blocking mode.)
		fd := int(tty.Fd())
		unix.SetNonblock(fd, true)
		buf := make([]byte, queued)
		for {
			k, err := unix.Read(fd, buf)
			if k <= 0 || err != nil {
				break
			}
			typed += string(buf[:k])
		}
	}
	tty.Close()
	<-done
	ts.Stdout().Write([]byte(strings.ReplaceAll(out.String(), "\r\n", "\n")))
	if typed != "" {
		fmt.Fprintf(ts.Stderr(), "typed: %q\n", typed)
	}
	if runErr != nil && !neg {
		ts.Fatalf("%s: %v", strings.Join(args, " "), runErr)
	}
	if runErr == nil && neg {
		ts.Fatalf("%s: unexpected success", strings.Join(args, " "))
	}
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
