package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Containers that outlive the command line (run -d, exec, ps): what they
// cost, beside runc where it has the same command.

// lifeBench runs the rows of detached containers: exec into a running
// container against runc exec, ps with many containers running, the memory
// of a monitor, and monitors killed at random moments.
func lifeBench(bin, img string, env []string, step, runs, many, kills int, tmp string) {
	execRows(bin, img, env, step, runs, tmp)
	if many > 0 {
		manyRunning(bin, img, env, step, many)
	}
	if kills > 0 {
		killMonitors(bin, img, env, step, kills)
	}
}

// execRows times /bin/true run in a running container by mini exec and by
// runc exec, interleaved. mini's container is at step 8 with --net none: a
// user namespace too, which runc's default spec has not.
func execRows(bin, img string, env []string, step, runs int, tmp string) {
	name := fmt.Sprintf("bench-exec-%d", os.Getpid())
	if out, err := command(env, bin, "run", "-d", "--step", strconv.Itoa(step), "--net", "none", "--name", name, img, "sleep", "100000"); err != nil {
		fmt.Printf("exec: mini run -d: %v: %s\n", err, out)
		return
	}
	defer command(env, bin, "rm", "-f", name)
	rows := []*row{{name: "mini exec", argv: []string{bin, "exec", name, "/bin/true"}}}
	if path, err := exec.LookPath("runc"); err == nil {
		if bundle, err := ociBundleRunning(tmp, path, img); err != nil {
			fmt.Printf("exec: runc skipped: %v\n", err)
		} else {
			state := filepath.Join(tmp, "runc-exec-state")
			id := "bench-exec"
			null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			c := exec.Command(path, "--root", state, "run", "--detach", "--bundle", bundle, id)
			c.Stdin, c.Stdout, c.Stderr = null, null, null
			if err := c.Run(); err != nil {
				fmt.Printf("exec: runc run --detach: %v\n", err)
			} else {
				defer command(env, path, "--root", state, "delete", "-f", id)
				rows = append(rows, &row{name: "runc exec", argv: []string{path, "--root", state, "exec", id, "/bin/true"}})
			}
		}
	}
	for _, r := range rows {
		runOnce(r, env, 0)
	}
	for i := 1; i <= runs; i++ {
		for _, j := range rand.Perm(len(rows)) {
			if d, ok := runOnce(rows[j], env, i); ok {
				rows[j].record(i, d, nil)
			}
		}
	}
	fmt.Printf("exec of /bin/true into a running container, %d interleaved runs each:\n", runs)
	for _, r := range rows {
		if r.err != nil {
			fmt.Printf("  %-12s failed: %v\n", r.name, r.err)
			continue
		}
		fmt.Printf("  %-12s median %s, p10 %s, p90 %s\n", r.name, ms(median(r.times)), ms(pct(r.times, 10)), ms(pct(r.times, 90)))
	}
}

// ociBundleRunning is ociBundle with sleep in place of /bin/true.
func ociBundleRunning(tmp, path, img string) (string, error) {
	dir, err := ociBundle(tmp, "runc-exec", path, img)
	if err != nil {
		return "", err
	}
	cfg := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(cfg)
	if err != nil {
		return "", err
	}
	data = bytes.Replace(data, []byte(`"/bin/true"`), []byte(`"sleep", "100000"`), 1)
	return dir, os.WriteFile(cfg, data, 0o644)
}

// manyRunning starts n detached containers, times mini ps among them, and
// reads the memory of their monitors.
func manyRunning(bin, img string, env []string, step, n int) {
	ids, failed := startMany(bin, img, env, step, n)
	defer removeAll(bin, env, ids)
	var times []time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		out, err := command(env, bin, "ps")
		times = append(times, time.Since(start))
		if err != nil || strings.Count(out, "\n") != len(ids)+1 {
			fmt.Printf("ps: %v, %d lines for %d containers\n", err, strings.Count(out, "\n"), len(ids))
			return
		}
	}
	fmt.Printf("mini ps with %d containers running (step %d, --net none; %d failed to start): median %s, p90 %s (20 runs)\n",
		len(ids), step, failed, ms(median(times)), ms(pct(times, 90)))

	var rss, pss, private []int
	for _, id := range ids {
		out, err := command(env, bin, "inspect", "-f", "{{.Mini.HolderPid}}", id)
		pid, _ := strconv.Atoi(strings.TrimSpace(out))
		if err != nil || pid == 0 {
			continue
		}
		r, p, d := smaps(pid)
		rss, pss, private = append(rss, r), append(pss, p), append(private, d)
	}
	if len(rss) == 0 {
		return
	}
	sort.Ints(rss)
	sort.Ints(pss)
	sort.Ints(private)
	k := len(rss) / 2
	fmt.Printf("monitor per running container (%d monitors): RSS median %d KiB; PSS %d KiB; private (what one more costs) %d KiB\n",
		len(rss), rss[k], pss[k], private[k])
}

// smaps reads a process's Rss, Pss and Private_Dirty+Private_Clean, in
// KiB, from /proc/PID/smaps_rollup. RSS counts mini's code, which every
// monitor shares, in full; PSS divides it among them.
func smaps(pid int) (rss, pss, private int) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Rss:":
			rss = n
		case "Pss:":
			pss = n
		case "Private_Clean:", "Private_Dirty:":
			private += n
		}
	}
	return rss, pss, private
}

// startMany starts n detached containers, eight at a time.
func startMany(bin, img string, env []string, step, n int) (ids []string, failed int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan bool, 8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- true
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := command(env, bin, "run", "-d", "--step", strconv.Itoa(step), "--net", "none", img, "sleep", "100000")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			ids = append(ids, strings.TrimSpace(out))
		}()
	}
	wg.Wait()
	return ids, failed
}

func removeAll(bin string, env []string, ids []string) {
	for len(ids) > 0 {
		k := min(len(ids), 50)
		command(env, bin, append([]string{"rm", "-f"}, ids[:k]...)...)
		ids = ids[k:]
	}
}

// killMonitors starts n bridge-mode containers with run -d and SIGKILLs
// each monitor at a random moment of its start, or after; then one mini ps
// reclaims what they held, and mini rm removes the rest. It reports what is
// left: containers, cgroups, leases, veths on the bridge.
func killMonitors(bin, img string, env []string, step, n int) {
	root, bridge := envValue(env, "MINI_ROOT"), envValue(env, "MINI_BRIDGE")
	var wg sync.WaitGroup
	sem := make(chan bool, 4)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- true
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := exec.Command(bin, "run", "-d", "--step", strconv.Itoa(step), "-m", "64m", img, "sleep", "100000")
			c.Env = env
			if c.Start() != nil {
				return
			}
			// The monitor is the child of mini run -d that runs "mini
			// monitor"; it is killed 0 to 100 ms after it appears.
			delay := time.Duration(rand.IntN(100000)) * time.Microsecond
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				if mon := monitorOf(c.Process.Pid); mon > 0 {
					time.Sleep(delay)
					unix.Kill(mon, unix.SIGKILL)
					break
				}
				if unix.Kill(c.Process.Pid, 0) != nil {
					break
				}
			}
			c.Wait()
		}()
	}
	wg.Wait()
	// Monitors that had answered before the kill are no longer children of
	// anything the bench holds: kill those too, by their state.
	out, _ := command(env, bin, "ps", "-q")
	for _, id := range strings.Fields(out) {
		pid, _ := command(env, bin, "inspect", "-f", "{{.Mini.HolderPid}}", id)
		if p, _ := strconv.Atoi(strings.TrimSpace(pid)); p > 0 {
			unix.Kill(p, unix.SIGKILL)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the kills land
	start := time.Now()
	command(env, bin, "ps", "-a")
	reclaim := time.Since(start)
	out, _ = command(env, bin, "ps", "-a", "-q")
	ids := strings.Fields(out)
	removeAll(bin, env, ids)
	containers, _ := filepath.Glob(filepath.Join(root, "containers", "*"))
	cgroups, _ := filepath.Glob(filepath.Join(root, "cgroups", "*"))
	leases := 0
	if data, err := os.ReadFile(filepath.Join(root, "net", bridge+".leases")); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				leases++
			}
		}
	}
	// A lease of a monitor killed before its container started is the next
	// run's to drop: run one.
	command(env, bin, "run", "--rm", "--step", strconv.Itoa(step), img, "true")
	leasesAfter := 0
	if data, err := os.ReadFile(filepath.Join(root, "net", bridge+".leases")); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				leasesAfter++
			}
		}
	}
	// A container's veth goes with its network namespace, which the kernel
	// frees a moment after the container's last process: give it 10 s.
	var veths []byte
	for try := 0; try < 100; try++ {
		if veths, _ = exec.Command("ip", "-o", "link", "show", "master", bridge).Output(); len(veths) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("%d monitors SIGKILLed at random moments (step %d, bridge, -m 64m): one ps reclaimed in %s, %d exited containers to rm; then left: %d container directories, %d cgroup records, %d leases (%d after the next run), %d veths\n",
		n, step, reclaim.Round(time.Millisecond), len(ids), len(containers), len(cgroups), leases, leasesAfter, strings.Count(string(veths), "\n"))
}

// monitorOf is the child of pid that runs "mini monitor", or 0.
func monitorOf(pid int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		data, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(data)) {
			child, _ := strconv.Atoi(f)
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", child))
			if bytes.Contains(cmdline, []byte("monitor")) {
				return child
			}
		}
	}
	return 0
}

func command(env []string, argv0 string, args ...string) (string, error) {
	c := exec.Command(argv0, args...)
	c.Env = env
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
