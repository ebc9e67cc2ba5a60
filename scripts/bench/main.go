// Command bench times a container's start-to-exit with mini at every step,
// beside unshare (the floor) and, when installed, runc and crun on an OCI
// bundle of the same rootfs. Runs are interleaved (each row once a round,
// the rounds in random orders) so a machine whose speed drifts affects
// every row alike, and no row always follows the same one. It measures;
// it asserts nothing. Run it as root: make bench.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
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

type row struct {
	name string
	argv []string
	err  error // the first failure
	// Each run's time, and the same times by round (to pair two rows) and
	// split by what ran just before: a runc or crun run, or anything else.
	times                []time.Duration
	byRound              map[int]time.Duration
	afterOCI, afterOther []time.Duration
}

// record adds the time d of round i to r, which ran just after prev.
func (r *row) record(i int, d time.Duration, prev *row) {
	r.times = append(r.times, d)
	if r.byRound == nil {
		r.byRound = map[int]time.Duration{}
	}
	r.byRound[i] = d
	if oci(prev) {
		r.afterOCI = append(r.afterOCI, d)
	} else {
		r.afterOther = append(r.afterOther, d)
	}
}

// oci says whether a row is runc's or crun's.
func oci(r *row) bool { return r != nil && (r.name == "runc run" || r.name == "crun run") }

func main() {
	runs := flag.Int("n", 100, "runs of each row")
	mini := flag.String("mini", "bin/mini", "the mini binary")
	image := flag.String("image", "rootfs/busybox", "the rootfs every runtime runs")
	scale := flag.Int("scale", 50, "containers started at once in the scale run (0: skip)")
	images := flag.Bool("images", false, "the image bench instead (make bench-image): pull and unpack beside skopeo + umoci, and containers sharing an image's layers")
	containers := flag.Int("containers", 20, "with -images: containers of one image started at once (0: skip)")
	many := flag.Int("many", 100, "detached containers running for the mini ps row and the monitors' memory (0: skip)")
	kills := flag.Int("kills", 100, "monitors SIGKILLed at random moments in the reclaim run (0: skip)")
	onlyLife := flag.Bool("only-life", false, "run only the rows of detached containers: exec, ps, monitors")
	builds := flag.Bool("build", false, "the build bench instead (make bench-build): a Dockerfile built by mini build and by buildah bud, then with every step cached")
	flag.Parse()
	if os.Geteuid() != 0 {
		fatal("bench: run as root (sudo make bench): containers need it")
	}
	img, _ := filepath.Abs(*image)
	bin, _ := filepath.Abs(*mini)
	tmp := os.Getenv(insideEnv)
	if tmp == "" {
		os.Exit(outside())
	}
	hybrid := setUp(tmp)
	if *images {
		imageBench(bin, img, *runs, *containers)
		return
	}
	if *builds {
		buildBench(bin, img, *runs)
		return
	}

	// A bridge and subnet of the benchmark's own, removed at the end, so the
	// benchmark touches nothing on the host that it did not make.
	bridge := fmt.Sprintf("minib%d", os.Getpid()%100000)
	defer exec.Command("ip", "link", "del", bridge).Run()
	env := append(os.Environ(), "MINI_ROOT="+filepath.Join(tmp, "state"), "MINI_BRIDGE="+bridge, "MINI_SUBNET=10.231.250.0/24")

	if *onlyLife {
		lifeBench(bin, img, env, maxStep(bin), *runs, *many, *kills, tmp)
		return
	}
	rows := []*row{
		{name: "unshare --uts --pid --mount --fork", argv: []string{"unshare", "--uts", "--pid", "--mount", "--fork", "/bin/true"}},
		// Every namespace mini's step 8 makes, the user namespace with a
		// map too: the floor for a container as isolated as mini's.
		{name: "unshare, all namespaces", argv: []string{"unshare", "--uts", "--pid", "--mount", "--ipc", "--net", "--cgroup", "--user", "--map-root-user", "--fork", "/bin/true"}},
	}
	max := maxStep(bin)
	for n := 0; n <= max; n++ {
		argv := []string{bin, "run", "--step", strconv.Itoa(n)}
		if n >= 8 {
			argv = append(argv, "--rm")
		}
		rows = append(rows, &row{name: fmt.Sprintf("mini --step %d", n), argv: append(argv, img, "/bin/true")})
	}
	if max >= 6 {
		argv := []string{bin, "run", "--step", strconv.Itoa(max), "--net", "none"}
		if max >= 8 {
			argv = append(argv, "--rm")
		}
		rows = append(rows, &row{name: fmt.Sprintf("mini --step %d --net none", max), argv: append(argv, img, "/bin/true")})
	}
	if max >= 9 {
		// Step 9 beside step 8, both without the bridge, and step 9 without
		// its seccomp filter: what the capabilities and masks cost, and
		// what the filter costs.
		none := []string{bin, "run", "--net", "none", "--rm"}
		rows = append(rows,
			&row{name: "mini --step 8 --net none", argv: append(append(none, "--step", "8"), img, "/bin/true")},
			&row{name: "mini --step 9 --net none, unconfined", argv: append(append(none, "--step", "9", "--security-opt", "seccomp=unconfined"), img, "/bin/true")})
	}
	for _, rt := range []string{"runc", "crun"} {
		if _, err := exec.LookPath(rt); err != nil {
			fmt.Fprintf(os.Stderr, "bench: no %s here, so no %s row: apt-get install %s to compare with it\n", rt, rt, rt)
		}
		if path, err := exec.LookPath(rt); err == nil {
			bundle, err := ociBundle(tmp, rt, path, img)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s skipped: %v\n", rt, err)
				continue
			}
			state := filepath.Join(tmp, rt+"-state")
			rows = append(rows, &row{name: rt + " run", argv: []string{path, "--root", state, "run", "--bundle", bundle, "ID"}})
		}
	}

	// Warm up once (page cache, the bridge), then interleave: every round
	// runs each row once, in an order of its own. A run leaves the kernel
	// work to do after it exits (a network namespace, and in bridge mode
	// its veth, are torn down by a kernel worker for a millisecond or more),
	// which slows whatever runs next: in a fixed order one row would always
	// pay for the row before it.
	for _, r := range rows {
		runOnce(r, env, 0)
	}
	var prev *row
	for i := 1; i <= *runs; i++ {
		for _, j := range rand.Perm(len(rows)) {
			if d, ok := runOnce(rows[j], env, i); ok {
				rows[j].record(i, d, prev)
			}
			prev = rows[j]
		}
	}

	fmt.Printf("start-to-exit of /bin/true, %d interleaved runs each (each round in a random order), %s\n", *runs, hostLine())
	fmt.Println("every row runs in the same private mount namespace, with the state of every runtime (mini's --root, runc's and crun's) on a tmpfs, as /run is on a systemd host")
	if hybrid {
		fmt.Println("and /sys/fs/cgroup/unified covered by an empty directory: this host also mounts cgroup v2 with controllers beside v1 (hybrid), which crun refuses; so every runtime sees cgroup v1 only")
	}
	var crun time.Duration
	if r := rowNamed(rows, "crun run"); r != nil && r.err == nil {
		crun = median(r.times)
	}
	// Two floors: unshare with the namespaces of steps 1 to 3, and with all
	// of them (x all-ns), to compare step 8 with.
	floor, floorAll := median(rows[0].times), median(rows[1].times)
	fmt.Printf("%-36s %9s %9s %9s %9s %8s %8s\n", "", "median", "p10", "p90", "x unshare", "x all-ns", "x crun")
	for _, r := range rows {
		if r.err != nil {
			fmt.Printf("%-36s failed: %v\n", r.name, r.err)
			continue
		}
		fmt.Printf("%-36s %9s %9s %9s %9s %8s %8s\n", r.name, ms(median(r.times)), ms(pct(r.times, 10)), ms(pct(r.times, 90)),
			ratio(median(r.times), floor), ratio(median(r.times), floorAll), ratio(median(r.times), crun))
	}
	// runc and crun put the container in its cgroup v1 by writing its pid to
	// cgroup.procs, and the kernel then waits for an RCU grace period, unless
	// another writer did so a moment before (rcu_sync): say what that is
	// worth, as the rows above mix both cases.
	for _, r := range rows {
		if oci(r) && r.err == nil && len(r.afterOCI) > 0 {
			fmt.Printf("%s right after a runc or crun run: median %s (%d runs); after any other row: %s\n", r.name, ms(median(r.afterOCI)), len(r.afterOCI), ms(median(r.afterOther)))
		}
	}
	withNet, noNet := rowNamed(rows, fmt.Sprintf("mini --step %d", max)), rowNamed(rows, fmt.Sprintf("mini --step %d --net none", max))
	// The comparison people ask for first, in one line: mini as isolated as
	// it gets without the bridge, against each runtime's median.
	if noNet != nil && noNet.err == nil {
		var vs []string
		for _, rt := range []string{"crun run", "runc run"} {
			if r := rowNamed(rows, rt); r != nil && r.err == nil {
				vs = append(vs, fmt.Sprintf("%s times %s's", ratio(median(noNet.times), median(r.times)), strings.TrimSuffix(rt, " run")))
			}
		}
		if len(vs) > 0 {
			fmt.Printf("%s: median %s, %s\n", noNet.name, ms(median(noNet.times)), strings.Join(vs, ", "))
		}
	}
	if max >= 6 {
		paired(withNet, noNet, fmt.Sprintf("bridge mode costs %%s more than --net none at step %d", max))
	}
	if max >= 9 {
		step8, unconfined := rowNamed(rows, "mini --step 8 --net none"), rowNamed(rows, "mini --step 9 --net none, unconfined")
		paired(noNet, step8, "step 9 costs %s more than step 8 (--net none)")
		paired(noNet, unconfined, "of which the seccomp filter (step 9 with seccomp=unconfined beside it) %s")
	}
	fmt.Println()
	if max >= 9 {
		seccompCost(bin, img, env, *runs/10+3)
	}
	memory(bin, img, env, max)
	if *scale > 0 && max >= 6 {
		scaleRun(bin, img, env, max, *scale, tmp)
	}
	fmt.Println()
	lifeBench(bin, img, env, max, *runs, *many, *kills, tmp)
}

// paired prints how much more a costs than b, the median of the rounds'
// differences: a round's two runs are a fraction of a second apart, so a
// drift of the machine's speed cancels out of their difference. what has a
// %s for it.
func paired(a, b *row, what string) {
	if a == nil || b == nil || a.err != nil || b.err != nil {
		return
	}
	var diffs []time.Duration
	for i, d := range a.byRound {
		if n, ok := b.byRound[i]; ok {
			diffs = append(diffs, d-n)
		}
	}
	fmt.Printf(what+" (median of the %d rounds' differences; the medians differ by %s)\n",
		ms(median(diffs)), len(diffs), ms(median(a.times)-median(b.times)))
}

// seccompCost times a command made of system calls, dd copying one byte at
// a time (a read and a write each), at step 8 and at step 9 with and
// without its filter, interleaved: what each call costs through it.
func seccompCost(bin, img string, env []string, runs int) {
	const bytes = 200000
	dd := []string{img, "dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=" + strconv.Itoa(bytes)}
	base := []string{bin, "run", "--net", "none", "--rm", "--step"}
	rows := []*row{
		{name: "step 8", argv: append(append(base, "8"), dd...)},
		{name: "step 9", argv: append(append(base, "9"), dd...)},
		{name: "step 9, unconfined", argv: append(append(base, "9", "--security-opt", "seccomp=unconfined"), dd...)},
	}
	for i := 1; i <= runs; i++ {
		for _, j := range rand.Perm(len(rows)) {
			if d, ok := runOnce(rows[j], env, i); ok {
				rows[j].record(i, d, nil)
			}
		}
	}
	for _, r := range rows {
		if r.err != nil {
			fmt.Printf("seccomp cost: %s failed: %v\n", r.name, r.err)
			return
		}
	}
	per := func(a, b *row) string {
		var diffs []time.Duration
		for i, d := range a.byRound {
			diffs = append(diffs, d-b.byRound[i])
		}
		return fmt.Sprintf("%.0fns", float64(median(diffs).Nanoseconds())/(2*bytes))
	}
	fmt.Printf("%d system calls (dd bs=1 count=%d), %d interleaved runs: step 8 %s, step 9 %s, step 9 unconfined %s; per call, step 9 over step 8: %s, the filter: %s\n",
		2*bytes, bytes, runs, ms(median(rows[0].times)), ms(median(rows[1].times)), ms(median(rows[2].times)), per(rows[1], rows[0]), per(rows[1], rows[2]))
}

// runOnce runs r once, as round i, and returns its wall time; the first
// failure is kept in r.err.
func runOnce(r *row, env []string, i int) (time.Duration, bool) {
	argv := make([]string, len(r.argv))
	for j, a := range r.argv {
		argv[j] = strings.ReplaceAll(a, "ID", fmt.Sprintf("bench-%d-%d", os.Getpid(), i))
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		if r.err == nil {
			r.err = fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
		}
		return 0, false
	}
	return d, true
}

// insideEnv names the benchmark's state directory once it runs inside its
// own mount namespace.
const insideEnv = "MINI_BENCH_STATE"

// outside makes the state directory and runs the benchmark again in a
// private mount namespace of its own (unshare(1)), where its mounts live
// and die with it; then removes the directory.
func outside() int {
	tmp, err := os.MkdirTemp("", "mini-bench-")
	check(err)
	defer os.Remove(tmp)
	self, err := os.Executable() // not /proc/self/exe: in unshare, that is unshare
	check(err)
	// A mount namespace and a network namespace of its own: the bridge,
	// the veths, the iptables rules and net.ipv4.ip_forward that bridge
	// mode sets are the benchmark's, and go with it.
	cmd := exec.Command("unshare", append([]string{"--mount", "--net", "--propagation", "private", self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), insideEnv+"="+tmp)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fatal("bench: " + err.Error())
	}
	return 0
}

// setUp runs in the benchmark's own mount namespace. It mounts a tmpfs on
// the state directory: mini's default --root is /run/mini, and /run is a
// tmpfs on a systemd host (not on every machine, this one perhaps), so
// making and removing each container's layers costs what it costs there.
// 0711: from step 5 on, the container's root is an unprivileged host uid
// that must pass through to its layers.
//
// On a host whose cgroup v2 mount has controllers while v1 holds the rest
// (a hybrid host), crun refuses to start. An empty directory of the
// benchmark's own then covers /sys/fs/cgroup/unified, so all runtimes see
// cgroup v1 only. Covered, not unmounted: crun and runc still make their
// per-container directories and files there, and under an unmounted cgroup2
// that would be the host's /sys/fs/cgroup tmpfs, where they would stay.
func setUp(tmp string) (hybrid bool) {
	check(exec.Command("ip", "link", "set", "lo", "up").Run())
	check(unix.Mount("tmpfs", tmp, "tmpfs", 0, "mode=0711"))
	data, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return false
	}
	cover := filepath.Join(tmp, "unified-cover")
	check(os.Mkdir(cover, 0o755))
	check(unix.Mount(cover, "/sys/fs/cgroup/unified", "", unix.MS_BIND, ""))
	return true
}

// ociBundle makes an OCI bundle whose root is the image, read-only, from
// the runtime's own default spec with the terminal off and /bin/true to run.
func ociBundle(tmp, name, path, image string) (string, error) {
	dir := filepath.Join(tmp, name+"-bundle")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command(path, "spec")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s spec: %v: %s", name, err, out)
	}
	cfgPath := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return "", err
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", err
	}
	proc := cfg["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"/bin/true"}
	cfg["root"] = map[string]any{"path": image, "readonly": true}
	data, err = json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(cfgPath, data, 0o644)
}

// memory reports the resident memory of mini's host process while its
// container runs: what each running container costs the host in mini.
func memory(bin, img string, env []string, step int) {
	const k = 5
	var cmds []*exec.Cmd
	for i := 0; i < k; i++ {
		c := exec.Command(bin, "run", "--step", strconv.Itoa(step), "--net", "none", img, "sleep", "3")
		if step < 6 {
			c = exec.Command(bin, "run", "--step", strconv.Itoa(step), img, "sleep", "3")
		}
		c.Env = env
		if err := c.Start(); err != nil {
			fmt.Printf("memory: %v\n", err)
			return
		}
		cmds = append(cmds, c)
	}
	time.Sleep(1500 * time.Millisecond) // let every container reach its sleep
	var rss, hwm []int
	for _, c := range cmds {
		r, h := statusKB(c.Process.Pid)
		rss, hwm = append(rss, r), append(hwm, h)
	}
	for _, c := range cmds {
		_ = c.Wait()
	}
	sort.Ints(rss)
	sort.Ints(hwm)
	fmt.Printf("mini host process per running container (step %d, %d containers): RSS median %d KiB, peak (VmHWM) median %d KiB\n",
		step, k, rss[k/2], hwm[k/2])
}

func statusKB(pid int) (rss, hwm int) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			rss, _ = strconv.Atoi(f[1])
		}
		if len(f) >= 2 && f[0] == "VmHWM:" {
			hwm, _ = strconv.Atoi(f[1])
		}
	}
	return rss, hwm
}

// scaleRun starts n bridge-mode containers at once. Each prints its address
// and then holds it, blocked on a FIFO in a directory shared with all of
// them, so that all n run at the same time and must have n distinct
// addresses. The benchmark holds the FIFO open (O_RDWR: it never blocks)
// until every container has printed (or failed); then it closes it, and
// every container reads EOF and exits. A container opens the FIFO before it
// prints, so none can miss that close.
func scaleRun(bin, img string, env []string, step, n int, tmp string) {
	gate := filepath.Join(tmp, "gate")
	check(os.Mkdir(gate, 0o755))
	fifo := filepath.Join(gate, "go")
	check(unix.Mkfifo(fifo, 0o644))
	hold, err := os.OpenFile(fifo, os.O_RDWR, 0)
	check(err)
	wait := "exec 3</mnt/go; ip -4 -o addr show eth0; cat <&3 >/dev/null"
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	addrs := map[string]bool{}
	up := make(chan bool, n) // one per container: printed its address, or failed
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			argv := []string{"run", "--step", strconv.Itoa(step), "-v", gate + ":/mnt"}
			if step >= 8 {
				argv = append(argv, "--rm")
			}
			c := exec.Command(bin, append(argv, img, "sh", "-c", wait)...)
			c.Env = env
			out, err := c.StdoutPipe()
			if err == nil {
				err = c.Start()
			}
			if err != nil {
				mu.Lock()
				failures++
				mu.Unlock()
				up <- false
				return
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			f := strings.Fields(line)
			ok := len(f) >= 4
			up <- ok
			io.Copy(io.Discard, out)
			err = c.Wait()
			mu.Lock()
			defer mu.Unlock()
			if err != nil || !ok {
				failures++
				return
			}
			addrs[f[3]] = true
		}()
	}
	for i := 0; i < n; i++ {
		<-up
	}
	allUp := time.Since(start)
	hold.Close()
	wg.Wait()
	fmt.Printf("scale: %d containers at once at step %d, bridge mode: all running (each holding its address) after %s, all exited after %s; %d failures, %d distinct addresses\n",
		n, step, allUp.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), failures, len(addrs))
}

func rowNamed(rows []*row, name string) *row {
	for _, r := range rows {
		if r.name == name {
			return r
		}
	}
	return nil
}

func maxStep(bin string) int {
	out, err := exec.Command(bin, "version").Output()
	check(err)
	max := 0
	for _, line := range strings.Split(string(out), "\n") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "step %d:", &n); err == nil && n > max {
			max = n
		}
	}
	return max
}

func hostLine() string {
	out, _ := exec.Command("uname", "-r").Output()
	return fmt.Sprintf("kernel %s, %d CPUs", strings.TrimSpace(string(out)), numCPU())
}

func numCPU() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(data), "processor\t:")
}

// ratio is a/b to two decimals, or "-" without a b.
func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }

// pct is the p-th percentile (nearest rank) of d.
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (p*len(s) + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func check(err error) {
	if err != nil {
		fatal("bench: " + err.Error())
	}
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}
