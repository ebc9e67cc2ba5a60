package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"mini/steps"
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
