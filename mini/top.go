package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"mini/mini/container"
	cgroups "mini/steps/07-cgroups"
)

const topUsage = "top CONTAINER"

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture mini runs on (proc_pid_stat(5), sysconf(3)).
const clockTicks = 100

// topMain lists the processes of a running container with ps -ef's
// columns, as docker top does.
func topMain(args []string) int {
	fs, root := commandFlags("top", topUsage)
	if err := parseCommand(fs, args, 1, topUsage); err != nil {
		return commandExit(err)
	}
	s, err := find(*root, fs.Arg(0))
	if err != nil {
		return commandExit(err)
	}
	if !s.Running() {
		return commandExit(fmt.Errorf("container %s is not running", s.Name))
	}
	pids, err := processes(s)
	if err != nil {
		return commandExit(err)
	}
	writeTop(pids)
	return 0
}

// writeTop prints the processes pids as ps -ef does.
func writeTop(pids []int) {
	boot := bootTime()
	users := hostUsers()
	w := tabwriter.NewWriter(os.Stdout, 0, 1, 1, ' ', 0)
	fmt.Fprintln(w, "UID\tPID\tPPID\tC\tSTIME\tTTY\tTIME\tCMD")
	for _, pid := range pids {
		p, err := readProc(pid)
		if err != nil {
			continue // exited meanwhile
		}
		uid := strconv.Itoa(p.uid)
		if name, ok := users[p.uid]; ok {
			uid = name
		}
		start := boot.Add(time.Duration(p.start) * time.Second / clockTicks)
		cpu := time.Duration(p.cpu) * time.Second / clockTicks
		c := 0
		if up := time.Since(start); up > 0 {
			c = int(100 * cpu / up)
		}
		stime := start.Format("15:04")
		if time.Since(start) > 24*time.Hour {
			stime = start.Format("Jan02")
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", uid, pid, p.ppid, c, stime, p.tty, clock(cpu), p.cmd)
	}
	w.Flush()
}

// processes are the container's: the members of its cgroup (step 7 on),
// else of its PID namespace (step 2 on: processes exec'd into it too), else
// its init and the processes it started.
func processes(s *container.State) ([]int, error) {
	pids, err := cgroups.Procs(s.Spec)
	if !errors.Is(err, cgroups.ErrNoCgroup) {
		sort.Ints(pids)
		return pids, err
	}
	all, err := allPids()
	if err != nil {
		return nil, err
	}
	ns := nsOf(s.Init.PID, "pid")
	if ns != "" && ns != nsOf(os.Getpid(), "pid") {
		for _, pid := range all {
			if nsOf(pid, "pid") == ns {
				pids = append(pids, pid)
			}
		}
		return pids, nil
	}
	in := map[int]bool{s.Init.PID: true}
	pids = []int{s.Init.PID}
	// /proc lists parents before their children, pids being given in
	// order, unless the pid numbers wrapped around: then a second pass.
	for pass := 0; pass < 2; pass++ {
		for _, pid := range all {
			if p, err := readProc(pid); err == nil && in[p.ppid] && !in[pid] {
				in[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// allPids lists the processes of the host.
func allPids() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// nsOf is the namespace of kind a process is in, as /proc/PID/ns/KIND
// names it ("pid:[4026531836]"): two processes share it when the names are
// equal.
func nsOf(pid int, kind string) string {
	link, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns", kind))
	return link
}

// proc is what top shows of one process.
type proc struct {
	uid, ppid  int
	tty, cmd   string
	cpu, start uint64 // clock ticks: user+system time, start after boot
}

// readProc reads /proc/PID/stat, status and cmdline (proc_pid_stat(5)).
func readProc(pid int) (proc, error) {
	var p proc
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return p, err
	}
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3, state
	if i < 0 || len(f) < 20 {
		return p, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	p.ppid, _ = strconv.Atoi(f[4-3])
	tty, _ := strconv.Atoi(f[7-3])
	utime, _ := strconv.ParseUint(f[14-3], 10, 64)
	stime, _ := strconv.ParseUint(f[15-3], 10, 64)
	p.start, _ = strconv.ParseUint(f[22-3], 10, 64)
	p.cpu = utime + stime
	p.tty = ttyName(tty)
	status, _ := os.ReadFile(filepath.Join(dir, "status"))
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			if fields := strings.Fields(v); len(fields) > 0 {
				p.uid, _ = strconv.Atoi(fields[0])
			}
		}
	}
	cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	p.cmd = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
	if p.cmd == "" { // a kernel thread, or a zombie
		p.cmd = "[" + string(stat[strings.IndexByte(string(stat), '(')+1:i]) + "]"
	}
	return p, nil
}

// ttyName names a controlling terminal by its device number (tty_nr):
// pseudo-terminals are majors 136 to 143.
func ttyName(nr int) string {
	major, minor := (nr>>8)&0xfff, (nr&0xff)|((nr>>12)&0xfff00)
	switch {
	case nr == 0:
		return "?"
	case major >= 136 && major <= 143:
		return fmt.Sprintf("pts/%d", (major-136)*256+minor)
	case major == 4 && minor < 64:
		return fmt.Sprintf("tty%d", minor)
	}
	return fmt.Sprintf("%d,%d", major, minor)
}

// clock spells a CPU time as ps does: HH:MM:SS.
func clock(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// bootTime is when the host booted: btime in /proc/stat.
func bootTime() time.Time {
	data, _ := os.ReadFile("/proc/stat")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
}

// hostUsers maps the host's uids to names, from /etc/passwd.
func hostUsers() map[int]string {
	users := map[int]string{}
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return users
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) > 2 {
			if uid, err := strconv.Atoi(fields[2]); err == nil {
				users[uid] = fields[0]
			}
		}
	}
	return users
}
