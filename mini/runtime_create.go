package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"mini/mini/monitor"
	"mini/mini/oci"
	"mini/mini/terminal"
	"mini/steps"
)

const createUsage = "create [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] [--no-pivot] ID"

// createFlags are mini create's flags, runc's names.
type createFlags struct {
	bundle, pidFile, console string
	noPivot                  bool
	preserveFDs              int
}

func parseCreateFlags(args []string) (*createFlags, string, error) {
	c := &createFlags{}
	fs := ociFlags("create", createUsage)
	fs.StringVarP(&c.bundle, "bundle", "b", ".", "the bundle: config.json and the root filesystem")
	fs.StringVar(&c.pidFile, "pid-file", "", "write the container's init's pid to this file")
	fs.StringVar(&c.console, "console-socket", "", "with process.terminal: send the master of the container's terminal to this unix socket")
	fs.BoolVar(&c.noPivot, "no-pivot", false, "make / with MS_MOVE and chroot(2), not pivot_root(2) (a / on a ramfs)")
	fs.Bool("no-new-keyring", false, "accepted: mini makes no session keyring for a container anyway")
	fs.IntVar(&c.preserveFDs, "preserve-fds", 0, "pass fds 3..3+N-1 on (mini: 0 only)")
	if err := parseOCI(fs, args, 1, false, createUsage); err != nil {
		return nil, "", err
	}
	if c.preserveFDs != 0 {
		return nil, "", fmt.Errorf("--preserve-fds %d: mini gives the container fds 0, 1 and 2 only", c.preserveFDs)
	}
	id := fs.Arg(0)
	if err := checkOCIID(id); err != nil {
		return nil, "", err
	}
	for _, p := range []*string{&c.bundle, &c.pidFile, &c.console} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return nil, "", err
			}
			*p = abs
		}
	}
	return c, id, nil
}

// idChars says whether id uses only what runc allows in a container id
// (letters, digits, "_", "+", "-" and "."). A loop, not a regexp: a
// regexp compiled at start-up costs every mini process, run or not.
func idChars(id string) bool {
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_+-.", c)
		if !ok {
			return false
		}
	}
	return true
}

func checkOCIID(id string) error {
	if id == "" || id == "." || id == ".." || !idChars(id) || len(id) > 1024 {
		return fmt.Errorf("invalid container id %q: use letters, digits, '_', '+', '-' and '.'", id)
	}
	return nil
}

// createMain creates the container: a holder (mini/monitor) runs the engine
// up to its start barrier (oci.Hold), and mini create returns once the
// container waits for mini start. The container's stdin, stdout and stderr
// are mini create's, as runc's are: its caller gives them.
func createMain(g *runtimeFlags, args []string) error {
	c, id, err := parseCreateFlags(args)
	if err != nil {
		return err
	}
	if s, _ := oci.Find(g.root, id, recipe, g.logWriter()); s != nil {
		return fmt.Errorf("container with id %s already exists", id)
	}
	cfg, err := oci.Load(c.bundle)
	if err != nil {
		return err
	}
	stdio := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	if cfg.Process != nil && cfg.Process.Terminal {
		// The container's stdio is its terminal: the holder keeps none of
		// mini create's, whose caller may wait for their last writer to
		// close them (containerd's shim reads create's output to its end).
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer null.Close()
		stdio = [3]*os.File{null, null, null}
	} else {
		for i, f := range stdio {
			if steps.IsTerminal(f) {
				return fmt.Errorf("fd %d is a terminal: the container would get yours, and could type into it (TIOCSTI); redirect it, or give the container its own (process.terminal and --console-socket)", i)
			}
		}
	}
	hexID, err := newID()
	if err != nil {
		return err
	}
	code, err := monitor.StartHolder(os.Args[1:], hexID, stdio)
	if err == nil && code != 0 {
		err = errors.New("the container was not created")
	}
	return err
}

// holdMain is the holder mini create starts (mini/monitor): it parses mini
// create's command line again, as mini create's caller gave it, makes the
// container's spec from the bundle's config, and holds it (oci.Hold).
func holdMain(args []string, hexID string) int {
	spec, opts, err := holdSpec(args, hexID)
	if err != nil {
		monitor.Reply(1, err)
		return 1
	}
	// The holder outlives the directory it was started in.
	_ = os.Chdir("/")
	r := recipe
	if spec.Tty {
		r = terminal.WithRelay(recipe, consoleRelay(spec, opts.Log))
	}
	return oci.Hold(spec, r, opts, monitor.Reply)
}

// holdSpec is the spec of the container mini create's args describe.
func holdSpec(args []string, hexID string) (*steps.Spec, oci.Options, error) {
	g := &runtimeFlags{}
	fs := g.flagSet()
	if err := fs.Parse(args); err != nil || fs.Arg(0) != "create" {
		return nil, oci.Options{}, fmt.Errorf("the holder's request is not a mini create: %q", args)
	}
	g.root = absRoot(g.root)
	c, id, err := parseCreateFlags(fs.Args()[1:])
	if err != nil {
		return nil, oci.Options{}, err
	}
	cfg, err := oci.Load(c.bundle)
	if err != nil {
		return nil, oci.Options{}, err
	}
	spec, err := oci.Translate(cfg, c.bundle, id, hexID, g.root)
	if err != nil {
		return nil, oci.Options{}, err
	}
	spec.OCI.NoPivot = c.noPivot
	spec.OCI.ConsoleSocket = c.console
	spec.Trace = g.debug
	if spec.Tty && c.console == "" {
		return nil, oci.Options{}, errors.New("process.terminal: a terminal needs --console-socket, where mini sends its master")
	}
	if g.systemdCgroup && spec.OCI.CgroupsPath != "" {
		path, err := systemdPath(spec.OCI.CgroupsPath)
		if err != nil {
			return nil, oci.Options{}, err
		}
		g.logf("warning", "--systemd-cgroup: mini has no systemd driver: it makes the cgroup %s itself, with no systemd unit", path)
		spec.OCI.CgroupsPath = path
	}
	return spec, oci.Options{PidFile: c.pidFile, Log: g.logWriter()}, nil
}

// systemdPath turns systemd's cgroupsPath, slice:prefix:name, into the
// cgroup systemd would make: a slice's dashes are its parents
// (a-b.slice is a.slice/a-b.slice), the unit is prefix-name.scope.
func systemdPath(p string) (string, error) {
	parts := strings.Split(p, ":")
	if len(parts) != 3 {
		return "", fmt.Errorf("linux.cgroupsPath %q: with --systemd-cgroup, want slice:prefix:name", p)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	path := "/"
	stem := strings.TrimSuffix(slice, ".slice")
	words := strings.Split(stem, "-")
	for i := range words {
		path = filepath.Join(path, strings.Join(words[:i+1], "-")+".slice")
	}
	unit := name
	if prefix != "" {
		unit = prefix + "-" + name
	}
	if !strings.HasSuffix(unit, ".scope") {
		unit += ".scope"
	}
	return filepath.Join(path, unit), nil
}

// consoleRelay is what the holder does with the master of the container's
// terminal: it sets its size (process.consoleSize), and sends it to the
// caller's --console-socket (sendmsg(2), SCM_RIGHTS), as runc does; the
// caller (containerd's shim, conmon) relays it from then on.
func consoleRelay(spec *steps.Spec, log interface{ Write([]byte) (int, error) }) func(*os.File) func() {
	return func(master *os.File) func() {
		defer master.Close()
		if size := spec.OCI.ConsoleSize; size != [2]uint{} {
			terminal.SetSize(master, &unix.Winsize{Row: uint16(size[0]), Col: uint16(size[1])})
		}
		if err := sendConsole(spec.OCI.ConsoleSocket, master); err != nil {
			fmt.Fprintf(log, "mini: --console-socket %s: %v\n", spec.OCI.ConsoleSocket, err)
		}
		return nil
	}
}

// sendConsole connects to the unix socket path and sends master on it.
func sendConsole(path string, master *os.File) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	rc, err := master.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(m uintptr) {
		serr = unix.Sendmsg(fd, []byte("/dev/ptmx"), unix.UnixRights(int(m)), nil, 0)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("sendmsg: %w", err)
	}
	return nil
}

// startMain starts a created container: its holder lets the command run,
// and answers once it does, the poststart hooks run.
func startMain(g *runtimeFlags, args []string) error {
	fs := ociFlags("start", "start ID")
	if err := parseOCI(fs, args, 1, false, "start ID"); err != nil {
		return err
	}
	s, err := g.find(fs.Arg(0))
	if err != nil {
		return err
	}
	if st := oci.Status(s); st != "created" {
		return fmt.Errorf("cannot start container %s: it is %s, not created", fs.Arg(0), st)
	}
	return oci.Start(s)
}
