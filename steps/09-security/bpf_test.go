package security

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// seccompData is struct seccomp_data, which a filter reads.
type seccompData struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

// bytes lays d out as the kernel does, in the machine's byte order.
func (d seccompData) bytes() []byte {
	b := binary.NativeEndian.AppendUint32(nil, d.nr)
	b = binary.NativeEndian.AppendUint32(b, d.arch)
	b = binary.NativeEndian.AppendUint64(b, 0) // instruction_pointer
	for _, a := range d.args {
		b = binary.NativeEndian.AppendUint64(b, a)
	}
	return b
}

// run is a classic BPF machine for the instructions compile writes, with
// the kernel's checks: jumps forward and inside the program, loads
// aligned and inside seccomp_data, and the program ends in a ret.
func run(t *testing.T, prog []unix.SockFilter, d seccompData) uint32 {
	t.Helper()
	data := d.bytes()
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		jump := func(cond bool) {
			if cond {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		}
		switch in.Code {
		case opLd:
			if in.K%4 != 0 || int(in.K)+4 > len(data) {
				t.Fatalf("pc %d: load at %d", pc, in.K)
			}
			a = binary.NativeEndian.Uint32(data[in.K:])
		case opAnd:
			a &= in.K
		case opJeq:
			jump(a == in.K)
		case opJgt:
			jump(a > in.K)
		case opJge:
			jump(a >= in.K)
		case opJa:
			pc += int(in.K)
		case opRet:
			return in.K
		default:
			t.Fatalf("pc %d: unknown code %#x", pc, in.Code)
		}
	}
	t.Fatalf("the program ran off its end")
	return 0
}

func defaultFilter(t *testing.T, caps []string) []unix.SockFilter {
	t.Helper()
	p, _, err := profile("", caps)
	if err != nil {
		t.Fatal(err)
	}
	prog, _, err := compile(p, "default", true)
	if err != nil {
		t.Fatal(err)
	}
	return prog.ins
}

func nr(t *testing.T, tab *table, name string) uint32 {
	t.Helper()
	n, ok := tab.number(name)
	if !ok {
		t.Fatalf("%s has no %s", tab.arch, name)
	}
	return n
}

const (
	allow = unix.SECCOMP_RET_ALLOW
	eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
)

func TestDefaultProfile(t *testing.T) {
	prog := defaultFilter(t, DefaultCaps)
	native := &tables[0]
	call := func(name string, args ...uint64) seccompData {
		d := seccompData{nr: nr(t, native, name), arch: native.audit}
		copy(d.args[:], args)
		return d
	}
	// clone's flags: its first argument, its second on s390x.
	clone := func(flags uint64) seccompData {
		if runtime.GOARCH == "s390x" {
			return call("clone", 0, flags)
		}
		return call("clone", flags)
	}
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	for _, tc := range []struct {
		what string
		d    seccompData
		want uint32
	}{
		{"read", call("read"), allow},
		{"mkdirat", call("mkdirat"), allow},
		{"mount, without CAP_SYS_ADMIN", call("mount"), eperm},
		{"unshare", call("unshare", unix.CLONE_NEWNS), eperm},
		{"add_key", call("add_key"), eperm},
		{"keyctl", call("keyctl"), eperm},
		{"clone of a thread", clone(unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND), allow},
		{"clone of a user namespace", clone(unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)), eperm},
		{"clone3: ENOSYS, so the C library falls back to clone", call("clone3"), enosys},
		{"socket(AF_INET)", call("socket", unix.AF_INET), allow},
		{"socket(AF_VSOCK)", call("socket", unix.AF_VSOCK), eperm},
		{"socket(AF_INET) with bits above 32 set", call("socket", 1<<32|unix.AF_INET), eperm},
		{"personality(PER_LINUX)", call("personality", 0), allow},
		{"personality(query)", call("personality", 0xffffffff), allow},
		{"personality(1)", call("personality", 1), eperm},
		{"a call newer than the profile", seccompData{nr: 1000, arch: native.audit}, enosys},
		{"another architecture", seccompData{nr: 0, arch: unix.AUDIT_ARCH_SPARC}, unix.SECCOMP_RET_KILL_PROCESS},
	} {
		if got := run(t, prog, tc.d); got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.what, got, tc.want)
		}
	}
	// The 32-bit ABI an x86-64 or arm64 kernel also runs has its section.
	if len(tables) > 1 {
		compat := &tables[1]
		for name, want := range map[string]uint32{"read": allow, "mount": eperm, "add_key": eperm} {
			d := seccompData{nr: nr(t, compat, name), arch: compat.audit}
			if got := run(t, prog, d); got != want {
				t.Errorf("%s %s: %#x, want %#x", compat.arch, name, got, want)
			}
		}
	}
	// Every call of the table gets an answer, and no call the profile
	// does not name is allowed.
	named := map[string]bool{}
	p, _, _ := profile("", DefaultCaps)
	for _, sc := range p.Syscalls {
		for _, n := range sc.Names {
			named[n] = true
		}
	}
	for _, c := range native.calls {
		got := run(t, prog, seccompData{nr: c.nr, arch: native.audit})
		if got == allow && !named[c.name] {
			t.Errorf("%s is allowed, but the profile does not name it", c.name)
		}
	}
}

// With CAP_SYS_ADMIN in the bounding set, docker's profile allows mount and
// unshare (the library resolves its "includes caps" rules).
func TestDefaultProfileSysAdmin(t *testing.T) {
	prog := defaultFilter(t, append([]string{"CAP_SYS_ADMIN"}, DefaultCaps...))
	native := &tables[0]
	for _, name := range []string{"mount", "unshare", "umount2"} {
		if got := run(t, prog, seccompData{nr: nr(t, native, name), arch: native.audit}); got != allow {
			t.Errorf("%s with CAP_SYS_ADMIN: %#x, want ALLOW", name, got)
		}
	}
	d := seccompData{nr: nr(t, native, "clone"), arch: native.audit, args: [6]uint64{unix.CLONE_NEWUSER, unix.CLONE_NEWUSER}}
	if got := run(t, prog, d); got != allow {
		t.Errorf("clone(CLONE_NEWUSER) with CAP_SYS_ADMIN: %#x, want ALLOW", got)
	}
}

// Each comparison against Go's own, on values around the 32-bit halves.
func TestArgConditions(t *testing.T) {
	native := &tables[0]
	read := nr(t, native, "read")
	values := []uint64{0, 1, 2, 0xffffffff, 1 << 32, 1<<32 + 1, 0x1_0000_0002, 0xffffffff_ffffffff, 0x7fffffff, 0x8000_0000_0000_0000}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20; i++ {
		values = append(values, r.Uint64(), r.Uint64()&0xffff_ffff, r.Uint64()&^0xffff_ffff)
	}
	ops := map[specs.LinuxSeccompOperator]func(a, v, v2 uint64) bool{
		specs.OpEqualTo:      func(a, v, _ uint64) bool { return a == v },
		specs.OpNotEqual:     func(a, v, _ uint64) bool { return a != v },
		specs.OpLessThan:     func(a, v, _ uint64) bool { return a < v },
		specs.OpLessEqual:    func(a, v, _ uint64) bool { return a <= v },
		specs.OpGreaterThan:  func(a, v, _ uint64) bool { return a > v },
		specs.OpGreaterEqual: func(a, v, _ uint64) bool { return a >= v },
		specs.OpMaskedEqual:  func(a, m, d uint64) bool { return a&m == d },
	}
	for op, want := range ops {
		for _, v := range values {
			v2 := v & 0xf0f0_f0f0_f0f0_f0f0
			p := &specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
					Args: []specs.LinuxSeccompArg{{Index: 3, Value: v, ValueTwo: v2, Op: op}}}},
			}
			prog, _, err := compile(p, "test", false)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range values {
				d := seccompData{nr: read, arch: native.audit}
				d.args[3] = a
				got := run(t, prog.ins, d) == allow
				if got != want(a, v, v2) {
					t.Fatalf("%s: args[3]=%#x, value %#x (%#x): allowed %v, want %v", op, a, v, v2, got, !got)
				}
			}
		}
	}
}

// TestFirstRuleStands: of two rules without conditions for one call, the
// first answers, as libseccomp has it (podman's profile has such pairs).
func TestFirstRuleStands(t *testing.T) {
	p := specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"read", "setns"}, Action: specs.ActAllow},
		{Names: []string{"setns", "write"}, Action: specs.ActKillProcess},
	}}
	prog, _, err := compile(&p, "p.json", false)
	if err != nil {
		t.Fatal(err)
	}
	native := &tables[0]
	for name, want := range map[string]uint32{"setns": unix.SECCOMP_RET_ALLOW, "read": unix.SECCOMP_RET_ALLOW, "write": unix.SECCOMP_RET_KILL_PROCESS} {
		if got := run(t, prog.ins, seccompData{nr: nr(t, native, name), arch: native.audit}); got != want {
			t.Errorf("%s: %#x, want %#x", name, got, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		what string
		p    specs.LinuxSeccomp
		err  string
	}{
		{"a name no architecture has", specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"nosuchcall"}, Action: specs.ActAllow}}},
			`unknown system call "nosuchcall"`},
		{"an agent", specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "seccomp agent"},
		{"a seventh argument", specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
			"argument 6"},
	} {
		_, _, err := compile(&tc.p, "p.json", false)
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "p.json: ") {
			t.Errorf("%s: %v, want an error about %q", tc.what, err, tc.err)
		}
	}
	// A name another architecture has (an ARM call on x86-64) is no error.
	p := specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"arm_fadvise64_64", "cacheflush", "read"}, Action: specs.ActAllow}}}
	if _, _, err := compile(&p, "p.json", true); err != nil {
		t.Error(err)
	}
}

func TestEncode(t *testing.T) {
	prog := defaultFilter(t, DefaultCaps)
	back := decode(encode(prog))
	if fmt.Sprint(back) != fmt.Sprint(prog) {
		t.Error("decode(encode(p)) is not p")
	}
}
