// Command probe tries what a hostile image would, and prints one line per
// try: "NAME: ok" (with what it saw), or "NAME: ERRNO", the error the kernel
// gave, by name. The scenarios build it statically (CGO_ENABLED=0) into a
// copy of the busybox image (the probeimage command, script_cmds_test.go)
// and compare its lines at step 8 and step 9 with the errors docker gives.
//
//	probe ACTION...
//
// It only looks: a file of /proc/sys or /proc/sysrq-trigger is opened for
// writing and closed unwritten (the open is where the kernel decides); a
// mount is unmounted at once.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

var actions = map[string]func() (string, error){
	"capeff":        func() (string, error) { return status("CapEff") },
	"capbnd":        func() (string, error) { return status("CapBnd") },
	"seccomp":       func() (string, error) { return status("Seccomp") },
	"nnp":           func() (string, error) { return status("NoNewPrivs") },
	"id":            id,
	"add-key":       addKey,
	"keys":          func() (string, error) { return lines("/proc/keys") },
	"kcore":         func() (string, error) { return readBytes("/proc/kcore") },
	"timer-list":    func() (string, error) { return lines("/proc/timer_list") },
	"firmware":      func() (string, error) { return entries("/sys/firmware") },
	"mount-tmpfs":   func() (string, error) { return mountAt("tmpfs", "tmpfs") },
	"mount-proc":    func() (string, error) { return mountAt("proc", "proc") },
	"mount-cgroup2": func() (string, error) { return mountAt("cgroup2", "cgroup2") },
	"umount-proc":   func() (string, error) { return "", unix.Unmount("/proc", unix.MNT_DETACH) },
	"unshare-mnt":   func() (string, error) { return "", onThread(func() error { return unix.Unshare(unix.CLONE_NEWNS) }) },
	"userns":        userns,
	"hostname":      func() (string, error) { return "", unix.Sethostname([]byte("probe")) },
	"sysctl":        func() (string, error) { return openWrite("/proc/sys/net/ipv4/ip_forward") },
	"core-pattern":  func() (string, error) { return openWrite("/proc/sys/kernel/core_pattern") },
	"sysrq":         func() (string, error) { return openWrite("/proc/sysrq-trigger") },
	"eth0-mac":      eth0MAC,
	"raw-socket":    rawSocket,
	"mkdir":         func() (string, error) { return "", unix.Mkdir("/probe-dir", 0o755) },
	"keyctl":        keyctl,
	"unshare-net":   func() (string, error) { return "", onThread(func() error { return unix.Unshare(unix.CLONE_NEWNET) }) },
	"bpf":           bpfMap,
	"perf":          perfEvent,
	"syslog": func() (string, error) {
		_, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, make([]byte, 4096))
		return "", err
	},
	"socket-alg":   func() (string, error) { return socket(unix.AF_ALG, unix.SOCK_SEQPACKET) },
	"socket-vsock": func() (string, error) { return socket(unix.AF_VSOCK, unix.SOCK_STREAM) },
	"personality":  personality,
	"chroot":       func() (string, error) { return "", unix.Chroot("/") },
	"chown":        func() (string, error) { return "", unix.Chown("/probe", 1, 1) },
	"mknod": func() (string, error) {
		return "", unix.Mknod("/probe-null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	},
	"true": func() (string, error) { return "", nil },
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe ACTION...")
		os.Exit(2)
	}
	if os.Args[1] == "exit" { // the child of userns
		os.Exit(0)
	}
	for _, name := range os.Args[1:] {
		f, ok := actions[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "probe: unknown action %q\n", name)
			os.Exit(2)
		}
		what, err := f()
		switch {
		case err != nil:
			fmt.Printf("%s: %s\n", name, errName(err))
		case what != "":
			fmt.Printf("%s: ok %s\n", name, what)
		default:
			fmt.Printf("%s: ok\n", name)
		}
	}
}

// errName is the errno of err by name (EPERM), or err itself.
func errName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
	}
	return err.Error()
}

// status is a field of /proc/self/status.
func status(field string) (string, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no %s in /proc/self/status", field)
}

func id() (string, error) {
	groups, err := unix.Getgroups()
	return fmt.Sprintf("uid=%d gid=%d groups=%v", unix.Getuid(), unix.Getgid(), groups), err
}

// addKey adds a key to the process keyring: the kernel keyring is not
// namespaced, a container that may use it shares it with the host.
func addKey() (string, error) {
	_, err := unix.AddKey("user", "mini-probe", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
	return "", err
}

func lines(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d lines", strings.Count(string(data), "\n")), nil
}

func readBytes(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	n, err := f.Read(make([]byte, 4096))
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return fmt.Sprintf("%d bytes", n), nil
}

func entries(path string) (string, error) {
	list, err := os.ReadDir(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d entries", len(list)), nil
}

// mountAt mounts a new file system of type fstype on /mnt, then unmounts it.
func mountAt(source, fstype string) (string, error) {
	if err := unix.Mount(source, "/mnt", fstype, 0, ""); err != nil {
		return "", err
	}
	return "", unix.Unmount("/mnt", unix.MNT_DETACH)
}

// onThread runs f on a thread of its own, which goes away with whatever
// namespace f moved it to: the goroutine ends locked to it, and the Go
// runtime then ends the thread (runtime.LockOSThread).
func onThread(f func() error) error {
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		done <- f()
	}()
	return <-done
}

// userns starts a child in a new user namespace, with clone(2): a Go
// program has threads, and unshare(CLONE_NEWUSER) wants one.
func userns() (string, error) {
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"probe", "exit"}, &syscall.ProcAttr{
		Sys: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER},
	})
	if err != nil {
		return "", err
	}
	var ws syscall.WaitStatus
	_, err = syscall.Wait4(pid, &ws, 0, nil)
	return "", err
}

// openWrite opens path for writing and closes it unwritten.
func openWrite(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	return "", unix.Close(fd)
}

// eth0MAC gives eth0 another MAC address (SIOCSIFHWADDR): with
// CAP_NET_ADMIN a container can take its neighbours' on the bridge.
func eth0MAC() (string, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	var ifr struct {
		name   [unix.IFNAMSIZ]byte
		family uint16
		addr   [14]byte
		_      [8]byte // the rest of struct ifreq's union
	}
	copy(ifr.name[:], "eth0")
	ifr.family = unix.ARPHRD_ETHER
	copy(ifr.addr[:], []byte{0x02, 0x6d, 0x69, 0x6e, 0x69, 0x01}) // locally administered
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCSIFHWADDR, uintptr(unsafe.Pointer(&ifr)))
	if errno != 0 {
		return "", errno
	}
	return "", nil
}

// rawSocket opens a packet socket, which CAP_NET_RAW allows.
func rawSocket() (string, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	return "", unix.Close(fd)
}

// keyctl asks for the session keyring's id.
func keyctl() (string, error) {
	_, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	return "", err
}

// bpfMap creates a one-entry BPF array map (bpf(2)), and closes it.
func bpfMap() (string, error) {
	attr := [4]uint32{unix.BPF_MAP_TYPE_ARRAY, 4, 4, 1} // type, key size, value size, entries
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		return "", errno
	}
	return "", unix.Close(int(fd))
}

// perfEvent opens a software counter on itself (perf_event_open(2)).
func perfEvent() (string, error) {
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK}
	attr.Size = uint32(unsafe.Sizeof(attr))
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return "", err
	}
	return "", unix.Close(fd)
}

func socket(domain, typ int) (string, error) {
	fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	return "", unix.Close(fd)
}

// personality asks for an execution domain docker's profile does not
// list: ADDR_NO_RANDOMIZE (linux/personality.h), which turns address space
// randomization off.
func personality() (string, error) {
	_, _, errno := unix.Syscall(unix.SYS_PERSONALITY, addrNoRandomize, 0, 0)
	if errno != 0 {
		return "", errno
	}
	return "", nil
}

const addrNoRandomize = 0x0040000
