// Command onerule is a seccomp filter assembled by hand: one rule, "uname
// fails with EPERM", on this machine's own architecture; every other call
// is allowed. It installs the filter on itself, then executes its
// arguments, which inherit it:
//
//	go build -o /tmp/onerule ./lab/09-security/onerule
//	/tmp/onerule uname        # uname: cannot get system name: Operation not permitted
//	/tmp/onerule ls /         # works
//
// No root needed: with no_new_privs set, any process may filter itself
// (seccomp(2)). The exercise is lab/09-security/README.md, "Build", part 2;
// mini's compiler of whole profiles is steps/09-security/bpf.go.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// auditArch is what the kernel puts in seccomp_data.arch for a program
// built for GOARCH (linux/audit.h).
var auditArch = map[string]uint32{
	"amd64":   unix.AUDIT_ARCH_X86_64,
	"arm64":   unix.AUDIT_ARCH_AARCH64,
	"riscv64": unix.AUDIT_ARCH_RISCV64,
	"ppc64le": unix.AUDIT_ARCH_PPC64LE,
	"s390x":   unix.AUDIT_ARCH_S390X,
	"loong64": unix.AUDIT_ARCH_LOONGARCH64,
}

// filter is the program: classic BPF, read by the kernel on each system
// call, whose input is struct seccomp_data (nr at offset 0, arch at 4).
func filter(arch, uname uint32) []unix.SockFilter {
	// TODO 6: return the program, as []unix.SockFilter{{Code: ..., Jt: ...,
	// Jf: ..., K: ...}, ...}, seven instructions:
	//   A = arch (a 32-bit load at offset 4: Code BPF_LD|BPF_W|BPF_ABS);
	//   if A == arch skip 1, else 0 (BPF_JMP|BPF_JEQ|BPF_K: Jt and Jf are
	//   how many instructions to skip);
	//   return SECCOMP_RET_KILL_PROCESS (BPF_RET|BPF_K): another
	//   architecture's numbers mean other calls;
	//   A = nr (offset 0);
	//   if A == uname skip 0, else 1;
	//   return SECCOMP_RET_ERRNO|EPERM; and last, return SECCOMP_RET_ALLOW.
	// Every constant is in golang.org/x/sys/unix.
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: onerule COMMAND [ARG...]")
		os.Exit(2)
	}
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		fmt.Fprintf(os.Stderr, "onerule: no AUDIT_ARCH for %s here\n", runtime.GOARCH)
		os.Exit(1)
	}
	prog := filter(arch, unix.SYS_UNAME)
	if len(prog) == 0 {
		fmt.Fprintln(os.Stderr, "onerule: TODO 6 in lab/09-security/onerule/main.go: write the filter")
		os.Exit(1)
	}
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "onerule:", err)
		os.Exit(127)
	}
	// The filter, no_new_privs and the execve on one thread: all three
	// belong to the thread that makes them.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "onerule: prctl(PR_SET_NO_NEW_PRIVS):", err)
		os.Exit(1)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		fmt.Fprintln(os.Stderr, "onerule: seccomp(SECCOMP_SET_MODE_FILTER):", errno)
		os.Exit(1)
	}
	runtime.KeepAlive(prog)
	err = unix.Exec(path, os.Args[1:], os.Environ())
	fmt.Fprintln(os.Stderr, "onerule: execve:", err)
	os.Exit(126)
}
