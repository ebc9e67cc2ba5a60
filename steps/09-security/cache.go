package security

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Docker's default profile gives the same filter to every container with
// the same capabilities, on the same kernel (the profile has rules for
// kernel versions), from the same mini (the profile and the compiler are
// in it). Compiling it costs every fresh process CPU time again, so
// the first run keeps the program in <root>/seccomp, and the next ones with
// the same key load it from there (docs/performance.md). --trace always
// compiles it, to show the instructions, and checks the kept copy. Only
// who may write --root (root, for /run/mini) can change it.

// cachePath is where the default filter for caps is kept, named for what
// makes it: mini's executable (device, inode, size, modification time), the
// kernel's release, the architecture and the capabilities.
func cachePath(root string, caps []string) (string, bool) {
	var st unix.Stat_t
	var uts unix.Utsname
	if unix.Stat("/proc/self/exe", &st) != nil || unix.Uname(&uts) != nil {
		return "", false
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "mini seccomp 1 %d %d %d %d.%d %s %s %#x", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec,
		unix.ByteSliceToString(uts.Release[:]), runtime.GOARCH, capMask(caps))
	return filepath.Join(root, "seccomp", fmt.Sprintf("default-%016x.bpf", h.Sum64())), true
}

// readCache returns the program kept at path: whole instructions, no more
// than the kernel takes. Anything else is not there.
func readCache(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 || len(data)%8 != 0 || len(data)/8 > maxProgram {
		return nil
	}
	return data
}

// writeCache keeps code at path for the next runs, unless it is there
// already: written to a temporary file and renamed, so that a run never
// reads half of it.
func writeCache(ctx *steps.Context, path string, code []byte) {
	if old := readCache(path); old != nil {
		if !bytes.Equal(old, code) {
			ctx.Tracef("seccomp: %s differs from this compilation: replaced", path)
		} else {
			ctx.Tracef("seccomp: %s holds the same program", path)
			return
		}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return // a cache: without it the next run compiles again
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return
	}
	_, err = f.Write(code)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return
	}
	ctx.Tracef("seccomp: kept in %s for the next runs", path)
}
