package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	labpid "mini/lab/02-pid"
	"mini/steps"
	pid "mini/steps/02-pid"
)

// initCommand is the hidden command the engine re-executes mini with, in the
// container's new namespaces.
const initCommand = steps.InitArg

// initMain is the child side. It checks it was started by mini run (fd 3 is
// the spec socket) so a user typing "mini init" gets a clear answer.
func initMain() int {
	var st unix.Stat_t
	if err := unix.Fstat(3, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		fmt.Fprintln(os.Stderr, "mini: 'init' is internal: it runs inside the container, started by 'mini run'")
		return 125
	}
	return steps.Init(recipe)
}

// initProcessMain is mini as the container's PID 1 with --init: the engine's
// child executes it with [--lab=N] PATH ARGV... (steps/child.go, execInit).
func initProcessMain(args []string) int {
	if os.Getpid() != 1 || len(args) < 2 {
		fmt.Fprintln(os.Stderr, "mini: 'init-process' is internal: it is PID 1 of a container run with --init")
		return 125
	}
	// ps in the container shows "mini-init", not "exe": /proc/self/comm is
	// the name of the process's first thread (proc_pid_comm(5)).
	_ = os.WriteFile("/proc/self/comm", []byte("mini-init"), 0)
	reap := pid.Init
	if lab, ok := strings.CutPrefix(args[0], "--lab="); ok {
		if n, _ := strconv.Atoi(lab); n == 2 || n == everyLab {
			reap = labpid.Init
		}
		args = args[1:]
	}
	return reap(args[0], args[1:])
}
