package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ociBench (make bench-oci) times mini as an OCI runtime beside runc and
// crun: create, start, the container's /bin/true exiting, and delete, on
// one bundle (runc's own default config, the terminal off, the image as
// its read-only root), each phase timed; then ctr run of a container
// through a containerd of the benchmark's own, with mini and with runc as
// the runc shim's binary. The benchmark is a subreaper, as containerd's
// shim is: a container's init, whose runtime exits after start, is its
// child, and it reaps it.
func ociBench(bin, img string, runs int, tmp string) {
	check(unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	runc, err := exec.LookPath("runc")
	if err != nil {
		fatal("bench -oci: no runc here: apt-get install runc (its default config is the bundle every runtime runs)")
	}
	bundle, err := ociBundle(tmp, "oci", runc, img)
	check(err)
	runtimes := []string{bin}
	for _, rt := range []string{"runc", "crun"} {
		if path, err := exec.LookPath(rt); err == nil {
			runtimes = append(runtimes, path)
		}
	}
	type phases struct{ create, start, exit, del, total []time.Duration }
	results := make([]phases, len(runtimes))
	failed := make([]error, len(runtimes))
	for i := 0; i <= runs; i++ { // round 0 warms up
		for _, j := range rand.Perm(len(runtimes)) {
			if failed[j] != nil {
				continue
			}
			c, s, x, d, err := lifecycle(runtimes[j], bundle, filepath.Join(tmp, "oci-root-"+strconv.Itoa(j)), fmt.Sprintf("b%d-%d", os.Getpid(), i))
			if err != nil {
				failed[j] = err
				continue
			}
			if i > 0 {
				r := &results[j]
				r.create, r.start, r.exit, r.del = append(r.create, c), append(r.start, s), append(r.exit, x), append(r.del, d)
				r.total = append(r.total, c+s+x+d)
			}
		}
	}
	fmt.Printf("OCI lifecycle of /bin/true on one bundle (runc's default config, read-only root), %d interleaved rounds, medians, %s\n", runs, hostLine())
	fmt.Printf("%-10s %9s %9s %9s %9s %9s\n", "", "create", "start", "exit", "delete", "total")
	for j, rt := range runtimes {
		name := filepath.Base(rt)
		if failed[j] != nil {
			fmt.Printf("%-10s failed: %v\n", name, failed[j])
			continue
		}
		r := results[j]
		fmt.Printf("%-10s %9s %9s %9s %9s %9s\n", name, ms(median(r.create)), ms(median(r.start)), ms(median(r.exit)), ms(median(r.del)), ms(median(r.total)))
	}
	fmt.Println("(exit: from start's return to the init's exit, seen by the benchmark, its subreaper)")
	fmt.Println()
	ctrRun(bin, runc, img, runs/5+3, tmp)
}

// lifecycle runs create, start, waits for the init to exit, and delete,
// timing each.
func lifecycle(rt, bundle, root, id string) (create, start, exit, del time.Duration, err error) {
	pidFile := filepath.Join(root, id+".pid")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return 0, 0, 0, 0, err
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer null.Close()
	// stderr is a file, not a pipe: the container's init (and its holder)
	// keep create's stdio, so a pipe would not reach its end until the
	// container exits, and Run would wait for that.
	errs, err := os.CreateTemp(root, "stderr")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer os.Remove(errs.Name())
	defer errs.Close()
	step := func(args ...string) (time.Duration, error) {
		cmd := exec.Command(rt, append([]string{"--root", root}, args...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, errs
		t := time.Now()
		err := cmd.Run()
		if err != nil {
			out, _ := os.ReadFile(errs.Name())
			return 0, fmt.Errorf("%s %s: %v: %s", filepath.Base(rt), args[0], err, strings.TrimSpace(string(out)))
		}
		return time.Since(t), nil
	}
	if create, err = step("create", "--bundle", bundle, "--pid-file", pidFile, id); err != nil {
		return
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if start, err = step("start", id); err != nil {
		return
	}
	t := time.Now()
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 10000)
		if err == nil && n == 1 {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			return 0, 0, 0, 0, fmt.Errorf("the container's init did not exit: %v", err)
		}
	}
	exit = time.Since(t)
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, 0, nil) // reap it, as a shim does
	del, err = step("delete", id)
	return
}

// ctrRun times ctr run --rm of /bin/true through a containerd of the
// benchmark's own (its root, state and sockets in tmp, /run/containerd a
// tmpfs of the daemon's own mount namespace), with mini and with runc as
// the binary of the runc shim, interleaved.
func ctrRun(bin, runc, img string, runs int, tmp string) {
	if _, err := exec.LookPath("containerd"); err != nil {
		fmt.Println("ctr run: no containerd here (apt-get install containerd): skipped")
		return
	}
	cd := filepath.Join(tmp, "containerd")
	check(os.MkdirAll(filepath.Join(cd, "img"), 0o755))
	// containerd 1.6 puts its shims' sockets under /run/containerd/s
	// whatever its config says: the daemon runs in a mount namespace of its
	// own with a tmpfs there, so the host's /run/containerd is never touched.
	if _, err := os.Stat("/run/containerd"); errors.Is(err, os.ErrNotExist) {
		check(os.Mkdir("/run/containerd", 0o711))
		defer os.Remove("/run/containerd")
	}
	sock := filepath.Join(cd, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = "/run/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(cd, "root"), sock, sock+".ttrpc", filepath.Join(cd, "debug.sock"), filepath.Join(cd, "opt"))
	check(os.WriteFile(filepath.Join(cd, "config.toml"), []byte(config), 0o644))
	daemon := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o mode=0711 tmpfs /run/containerd && exec containerd --config "$1"`, "sh", filepath.Join(cd, "config.toml"))
	check(daemon.Start())
	defer func() { _ = daemon.Process.Kill(); _ = daemon.Wait() }()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctr := func(args ...string) error {
		// ctr makes the container's fifos under /run/containerd/fifo: it
		// runs in the daemon's mount namespace, where the shim finds them.
		nsenter := []string{"-t", strconv.Itoa(daemon.Process.Pid), "-m", "ctr", "--address", sock, "--namespace", "bench"}
		out, err := exec.Command("nsenter", append(nsenter, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ctr %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	// The image: docker save's format, of the benchmark's rootfs.
	layer := filepath.Join(cd, "img", "layer.tar")
	run("tar", "-C", img, "-cf", layer, ".")
	sum, err := exec.Command("sha256sum", layer).Output()
	check(err)
	diff := strings.Fields(string(sum))[0]
	check(os.WriteFile(filepath.Join(cd, "img", "config.json"), []byte(`{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin:/sbin"]},"rootfs":{"type":"layers","diff_ids":["sha256:`+diff+`"]}}`), 0o644))
	check(os.WriteFile(filepath.Join(cd, "img", "manifest.json"), []byte(`[{"Config":"config.json","RepoTags":["bench.mini/busybox:latest"],"Layers":["layer.tar"]}]`), 0o644))
	run("tar", "-C", filepath.Join(cd, "img"), "-cf", filepath.Join(cd, "image.tar"), "manifest.json", "config.json", "layer.tar")
	check(ctr("images", "import", filepath.Join(cd, "image.tar")))
	binaries := []string{bin, runc}
	times := make([][]time.Duration, len(binaries))
	for i := 0; i <= runs; i++ {
		for _, j := range rand.Perm(len(binaries)) {
			t := time.Now()
			if err := ctr("run", "--rm", "--runc-binary", binaries[j], "bench.mini/busybox:latest", fmt.Sprintf("c%d-%d", j, i), "/bin/true"); err != nil {
				fmt.Printf("ctr run with %s: %v\n", filepath.Base(binaries[j]), err)
				return
			}
			if i > 0 {
				times[j] = append(times[j], time.Since(t))
			}
		}
	}
	fmt.Printf("ctr run --rm of /bin/true through containerd (%d interleaved runs each, ctr entered into the daemon's mount namespace with nsenter): with mini %s, with runc %s (medians; the same shim, image and snapshot)\n",
		runs, ms(median(times[0])), ms(median(times[1])))
}
