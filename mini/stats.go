package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"mini/mini/container"
	cgroups "mini/steps/07-cgroups"
)

const statsUsage = "stats [--no-stream] [-a] [CONTAINER...]"

// statsInterval is the time between the two readings a CPU % is taken
// from, and between two screens without --no-stream.
const statsInterval = 500 * time.Millisecond

// statsMain shows what running containers use, from their cgroups (step 7),
// docker stats's columns: CPU % (100% is one CPU), memory used and its
// limit (the host's memory without one), network bytes in and out, and
// tasks. Without --no-stream it shows them again and again until Ctrl-C.
func statsMain(args []string) int {
	fs, root := commandFlags("stats", statsUsage)
	noStream := fs.Bool("no-stream", false, "print once and return")
	all := fs.BoolP("all", "a", false, "show all containers (default: the running ones)")
	if err := parseCommand(fs, args, 0, statsUsage); err != nil {
		return commandExit(err)
	}
	var list []*container.State
	if fs.NArg() == 0 {
		states, err := container.All(absRoot(*root), recipe, os.Stderr)
		if err != nil {
			return commandExit(err)
		}
		for _, s := range states {
			if *all || s.Status == container.Running {
				list = append(list, s)
			}
		}
	}
	for _, ref := range fs.Args() {
		s, err := find(*root, ref)
		if err != nil {
			return commandExit(err)
		}
		list = append(list, s)
	}
	prev := sample(list)
	for {
		time.Sleep(statsInterval)
		now := sample(list)
		if !*noStream {
			fmt.Print("\033[2J\033[H") // clear the screen, as docker stats does
		}
		printStats(os.Stdout, list, prev, now)
		if *noStream {
			return 0
		}
		prev = now
	}
}

// reading is one container's usage at one moment; ok is false when it is
// not running or has no cgroup.
type reading struct {
	at     time.Time
	usage  cgroups.Usage
	ok     bool
	pids   int
	rx, tx int64
	net    bool
}

func sample(list []*container.State) []reading {
	out := make([]reading, len(list))
	for i, s := range list {
		r := reading{at: time.Now()}
		if s.Running() {
			u, err := cgroups.ReadUsage(s.Spec)
			r.usage, r.ok = u, err == nil
			if !r.usage.HasPids {
				if pids, err := processes(s); err == nil {
					r.pids = len(pids)
				}
			}
			r.rx, r.tx, r.net = netBytes(s.Init.PID)
		}
		out[i] = r
	}
	return out
}

func printStats(out io.Writer, list []*container.State, prev, now []reading) {
	w := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
	fmt.Fprintln(w, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tPIDS")
	total := hostMemory()
	for i, s := range list {
		a, b := prev[i], now[i]
		cpu, mem, memPct, netIO, pids := "--", "-- / --", "--", "--", "--"
		if b.ok && a.ok && b.usage.HasCPU {
			pct := float64(b.usage.CPU-a.usage.CPU) / float64(b.at.Sub(a.at).Nanoseconds()) * 100
			cpu = fmt.Sprintf("%.2f%%", max(pct, 0))
		}
		if b.ok && b.usage.HasMemory {
			limit := b.usage.MemoryLimit
			if limit == 0 || limit > total && total > 0 {
				limit = total
			}
			mem = bytesSize(float64(b.usage.Memory)) + " / " + bytesSize(float64(limit))
			if limit > 0 {
				memPct = fmt.Sprintf("%.2f%%", float64(b.usage.Memory)/float64(limit)*100)
			}
		}
		if b.net {
			netIO = humanSize(float64(b.rx)) + " / " + humanSize(float64(b.tx))
		}
		switch {
		case b.ok && b.usage.HasPids:
			pids = strconv.FormatInt(b.usage.Pids, 10)
		case b.pids > 0:
			pids = strconv.Itoa(b.pids)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Name, cpu, mem, memPct, netIO, pids)
	}
	w.Flush()
}

// netBytes sums the bytes received and sent by the links of a process's
// network namespace, but lo, from /proc/PID/net/dev, which shows the
// namespace of that process. A container on the host's network (--net
// host, or below step 6) has none of its own: ok is false.
func netBytes(pid int) (rx, tx int64, ok bool) {
	if ns := nsOf(pid, "net"); ns == "" || ns == nsOf(os.Getpid(), "net") {
		return 0, 0, false
	}
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "net", "dev"))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, counters, found := strings.Cut(line, ":")
		f := strings.Fields(counters)
		if !found || strings.TrimSpace(name) == "lo" || len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseInt(f[0], 10, 64)
		t, _ := strconv.ParseInt(f[8], 10, 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx, true
}

// hostMemory is MemTotal in /proc/meminfo, in bytes.
func hostMemory() int64 {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// bytesSize and humanSize spell sizes as docker stats does (go-units's
// BytesSize, powers of 1024, and HumanSizeWithPrecision, powers of 1000).
func bytesSize(n float64) string {
	return scaled(n, 1024, "%.4g%s", []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"})
}

func humanSize(n float64) string {
	return scaled(n, 1000, "%.3g%s", []string{"B", "kB", "MB", "GB", "TB", "PB"})
}

func scaled(n, base float64, format string, units []string) string {
	i := 0
	for n >= base && i < len(units)-1 {
		n /= base
		i++
	}
	return fmt.Sprintf(format, n, units[i])
}
