package security

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A seccomp filter is a classic BPF program the kernel runs on every system
// call the process makes (Documentation/userspace-api/seccomp_filter.rst).
// Its input is a struct seccomp_data:
//
//	offset 0   int   nr                  the system call's number
//	offset 4   u32   arch                AUDIT_ARCH_*: which table nr is from
//	offset 8   u64   instruction_pointer
//	offset 16  u64   args[6]             the arguments, 8 bytes each
//
// and its answer, the value of a "ret", says what happens: SECCOMP_RET_ALLOW,
// SECCOMP_RET_ERRNO|errno (the call fails with that errno, unrun),
// SECCOMP_RET_KILL_PROCESS ... A program has one register, A, loads 32 bits
// at a time, and jumps only forward, by at most 255 instructions in a
// conditional jump (jt, jf are 8 bits), which is why compile puts each
// system call's rules right after its comparison.
//
// compile writes the program a profile asks for, in four parts:
//
//	ld [4]                      A = arch
//	jeq #AUDIT_ARCH_X, 0, 1     one pair per architecture the filter knows:
//	ja  section_X               jump to its section
//	ret KILL_PROCESS            any other architecture: a way around the filter
//	section_X:
//	ld [0]                      A = nr
//	jgt #last, 0, 1             a call newer than every call the profile names:
//	ret ERRNO(ENOSYS)           "not implemented", so programs fall back to an older one
//	jeq #nr, 0, n               for each system call the profile has rules for,
//	  ... n instructions        its rules: argument checks, then a ret
//	ret default                 every other call: the profile's default action

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// The instructions compile uses (linux/filter.h spells them BPF_STMT and
// BPF_JUMP of these codes).
const (
	opLd  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS  // A = 32 bits of seccomp_data at k
	opAnd = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K // A &= k
	opJeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K // skip jt if A == k, else jf
	opJgt = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K // A > k (unsigned)
	opJge = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K // A >= k
	opJa  = unix.BPF_JMP | unix.BPF_JA               // skip k, up to 2^32
	opRet = unix.BPF_RET | unix.BPF_K                // the answer is k
)

// maxProgram is the longest program the kernel takes (BPF_MAXINSNS).
const maxProgram = 4096

// program is a filter being written: its instructions, and beside each a
// note for --trace.
type program struct {
	ins   []unix.SockFilter
	notes []string
}

func (p *program) emit(code uint16, jt, jf uint8, k uint32, note string) {
	p.ins = append(p.ins, unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
	p.notes = append(p.notes, note)
}

func (p *program) append(q *program) {
	p.ins = append(p.ins, q.ins...)
	p.notes = append(p.notes, q.notes...)
}

// rule is one rule of a profile for one system call: argument conditions
// that must all hold, and the answer then.
type rule struct {
	ret  uint32
	what string // the answer, for the trace: ALLOW, ERRNO(EPERM)
	args []specs.LinuxSeccompArg
}

// compile writes the filter for profile p, as the profile library resolved
// it for this container. source names the profile in errors.
func compile(p *specs.LinuxSeccomp, source string) (*program, uint, error) {
	def, defWhat, err := answer(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: defaultAction: %w", source, err)
	}
	flags, err := filterFlags(p.Flags)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", source, err)
	}
	// Rules by system call name, in the profile's order.
	byName := map[string][]rule{}
	var names []string
	for _, sc := range p.Syscalls {
		ret, what, err := answer(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %v: %w", source, sc.Names, err)
		}
		for _, a := range sc.Args {
			if a.Index > 5 {
				return nil, 0, fmt.Errorf("%s: %v: argument %d: a system call has 6 (0 to 5)", source, sc.Names, a.Index)
			}
		}
		for _, n := range sc.Names {
			if !knownName(n) && !dockerName(n) {
				return nil, 0, fmt.Errorf("%s: unknown system call %q: it is no call of any architecture (golang.org/x/sys's tables, docker's default profile)", source, n)
			}
			if _, seen := byName[n]; !seen {
				names = append(names, n)
			}
			byName[n] = append(byName[n], rule{ret: ret, what: what, args: sc.Args})
		}
	}
	// An allow-list answers ENOSYS for calls newer than the profile, as
	// runc's filters do; a deny-list (default allow) lets them run.
	stub := !isAllow(p.DefaultAction)

	prog := &program{}
	var sections []*program
	tabs := filterTables(p.Architectures)
	for _, t := range tabs {
		s, err := section(t, names, byName, def, defWhat, stub)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", source, err)
		}
		sections = append(sections, s)
	}
	prog.emit(opLd, 0, 0, offArch, "A = seccomp_data.arch")
	start := 1 + 2*len(sections) + 1 // the first section, after this dispatch
	for i, s := range sections {
		ja := uint32(start - (len(prog.ins) + 2)) // from the instruction after the ja
		prog.emit(opJeq, 0, 1, tabs[i].audit, tabs[i].arch)
		prog.emit(opJa, 0, 0, ja, "to the section of "+tabs[i].arch)
		start += len(s.ins)
	}
	prog.emit(opRet, 0, 0, unix.SECCOMP_RET_KILL_PROCESS, "KILL_PROCESS: an architecture the filter does not know")
	for _, s := range sections {
		prog.append(s)
	}
	if len(prog.ins) > maxProgram {
		return nil, 0, fmt.Errorf("%s: the filter would have %d instructions, more than the kernel's %d", source, len(prog.ins), maxProgram)
	}
	return prog, flags, nil
}

// filterTables are the tables of the architectures a filter covers: this
// build's own, always (docker's profile lists none for some, ppc64le), then
// the profile's that mini has a table for. A profile's architecture without
// one (x32) gets no section: on x86-64 its calls carry bit 30 in their
// number, above every x86-64 call, and get ENOSYS.
func filterTables(arches []specs.Arch) []*table {
	out := []*table{&tables[0]}
	for _, a := range arches {
		if t := tableFor(string(a)); t != nil && t != out[0] && !containsTable(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func containsTable(list []*table, t *table) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

// section writes the part of the filter for one architecture.
func section(t *table, names []string, byName map[string][]rule, def uint32, defWhat string, stub bool) (*program, error) {
	// The profile's system calls by number on this architecture; a name
	// this architecture does not have (arm_fadvise64_64 on x86-64) is
	// skipped, as libseccomp skips it.
	byNr := map[uint32][]rule{}
	nrName := map[uint32]string{}
	var last uint32
	for _, n := range names {
		nr, ok := t.number(n)
		if !ok {
			continue
		}
		byNr[nr] = append(byNr[nr], byName[n]...)
		if nrName[nr] == "" {
			nrName[nr] = n
		}
		last = max(last, nr)
	}
	nrs := make([]uint32, 0, len(byNr))
	for nr := range byNr {
		nrs = append(nrs, nr)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })

	s := &program{}
	s.emit(opLd, 0, 0, offNr, t.arch+": A = seccomp_data.nr")
	if stub && len(nrs) > 0 {
		if t.arch == "SCMP_ARCH_S390X" {
			// On s390x, calls above 255 go through the number 0 and come
			// here as 0 when the kernel does not know them (as runc does).
			s.emit(opJeq, 0, 1, 0, "s390x: a call this kernel does not know")
			s.emit(opRet, 0, 0, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS), "ERRNO(ENOSYS)")
		}
		s.emit(opJgt, 0, 1, last, fmt.Sprintf("above %s, the profile's last call here", nrName[last]))
		s.emit(opRet, 0, 0, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS), "ERRNO(ENOSYS): newer than the profile")
	}
	for i := 0; i < len(nrs); i++ {
		nr := nrs[i]
		block, err := rulesCode(byNr[nr], def, defWhat, nrName[nr])
		if err != nil {
			return nil, err
		}
		if len(block.ins) == 1 {
			// No argument checks: one answer. A run of consecutive calls
			// with the same one is one range test, not a test per call.
			j := i
			for j+1 < len(nrs) && nrs[j+1] == nrs[j]+1 && simple(byNr[nrs[j+1]], block.ins[0].K) {
				j++
			}
			if j > i {
				what := fmt.Sprintf("%s (%d) to %s (%d)", nrName[nr], nr, nrName[nrs[j]], nrs[j])
				s.emit(opJgt, 2, 0, nrs[j], "above "+what+": on")
				s.emit(opJge, 0, 1, nr, what)
				s.append(block)
				i = j
				continue
			}
		}
		if len(block.ins) <= 255 {
			s.emit(opJeq, 0, uint8(len(block.ins)), nr, nrName[nr])
		} else {
			// Too far for a conditional jump: over an unconditional one.
			s.emit(opJeq, 1, 0, nr, nrName[nr])
			s.emit(opJa, 0, 0, uint32(len(block.ins)), "past "+nrName[nr]+"'s rules")
		}
		s.append(block)
	}
	s.emit(opRet, 0, 0, def, defWhat+": the default")
	return s, nil
}

// simple says whether a call's rules come to one answer, ret, with no
// argument to check.
func simple(rules []rule, ret uint32) bool {
	for _, r := range rules {
		if len(r.args) > 0 || r.ret != ret {
			return false
		}
	}
	return true
}

// rulesCode writes one system call's rules, ending with a ret whatever
// happens. libseccomp's order: the rules with argument conditions first,
// in the profile's order, the first that holds answers; then the call's
// rule without conditions, if it has one, else the default action.
func rulesCode(rules []rule, def uint32, defWhat, name string) (*program, error) {
	b := &program{}
	final, finalWhat, unconditional := def, defWhat+": no rule holds", false
	for _, r := range rules {
		if len(r.args) > 0 {
			b.append(ruleCode(r))
			continue
		}
		if unconditional && r.ret != final {
			return nil, fmt.Errorf("%s: two rules without conditions, %s and %s: keep one", name, finalWhat, r.what)
		}
		final, finalWhat, unconditional = r.ret, r.what, true
	}
	b.emit(opRet, 0, 0, final, finalWhat)
	return b, nil
}

// ruleCode writes one rule: each argument condition jumps past the rule's
// ret when it does not hold ("fail"), else falls through to the next.
func ruleCode(r rule) *program {
	c := &program{}
	var fails []bool // per instruction: its jt or jf is "fail", patched below
	var failT []bool
	emit := func(code uint16, jt, jf uint8, k uint32, note string, ft, ff bool) {
		c.emit(code, jt, jf, k, note)
		failT = append(failT, ft)
		fails = append(fails, ff)
	}
	for _, a := range r.args {
		lo, hi := argOffsets(a.Index)
		v := a.Value
		arg := fmt.Sprintf("args[%d]", a.Index)
		switch a.Op {
		case specs.OpEqualTo:
			emit(opLd, 0, 0, hi, arg+" high", false, false)
			emit(opJeq, 0, 0, uint32(v>>32), "", false, true)
			emit(opLd, 0, 0, lo, arg+" low", false, false)
			emit(opJeq, 0, 0, uint32(v), fmt.Sprintf("%s == %#x", arg, v), false, true)
		case specs.OpNotEqual:
			emit(opLd, 0, 0, hi, arg+" high", false, false)
			emit(opJeq, 0, 2, uint32(v>>32), "high words differ: holds", false, false)
			emit(opLd, 0, 0, lo, arg+" low", false, false)
			emit(opJeq, 0, 0, uint32(v), fmt.Sprintf("%s != %#x", arg, v), true, false)
		case specs.OpMaskedEqual:
			d := a.ValueTwo
			emit(opLd, 0, 0, hi, arg+" high", false, false)
			emit(opAnd, 0, 0, uint32(v>>32), "", false, false)
			emit(opJeq, 0, 0, uint32(d>>32), "", false, true)
			emit(opLd, 0, 0, lo, arg+" low", false, false)
			emit(opAnd, 0, 0, uint32(v), "", false, false)
			emit(opJeq, 0, 0, uint32(d), fmt.Sprintf("%s & %#x == %#x", arg, v, d), false, true)
		case specs.OpGreaterThan, specs.OpGreaterEqual:
			// Higher high word: holds; lower: fails; equal: the low words decide.
			emit(opLd, 0, 0, hi, arg+" high", false, false)
			emit(opJgt, 3, 0, uint32(v>>32), "", false, false)
			emit(opJeq, 0, 0, uint32(v>>32), "", false, true)
			emit(opLd, 0, 0, lo, arg+" low", false, false)
			if a.Op == specs.OpGreaterThan {
				emit(opJgt, 0, 0, uint32(v), fmt.Sprintf("%s > %#x", arg, v), false, true)
			} else {
				emit(opJge, 0, 0, uint32(v), fmt.Sprintf("%s >= %#x", arg, v), false, true)
			}
		case specs.OpLessThan, specs.OpLessEqual:
			emit(opLd, 0, 0, hi, arg+" high", false, false)
			emit(opJgt, 0, 0, uint32(v>>32), "", true, false)
			emit(opJeq, 0, 2, uint32(v>>32), "lower high word: holds", false, false)
			emit(opLd, 0, 0, lo, arg+" low", false, false)
			if a.Op == specs.OpLessThan {
				emit(opJge, 0, 0, uint32(v), fmt.Sprintf("%s < %#x", arg, v), true, false)
			} else {
				emit(opJgt, 0, 0, uint32(v), fmt.Sprintf("%s <= %#x", arg, v), true, false)
			}
		}
	}
	emit(opRet, 0, 0, r.ret, r.what, false, false)
	// "fail" is the instruction after the ret: from instruction i, skip
	// the len-i-1 that follow it.
	for i := range c.ins {
		skip := uint8(len(c.ins) - i - 1)
		if failT[i] {
			c.ins[i].Jt = skip
		}
		if fails[i] {
			c.ins[i].Jf = skip
		}
	}
	return c
}

// argOffsets are the offsets of the low and high 32 bits of argument i in
// seccomp_data: a load takes 32 bits in the machine's byte order.
func argOffsets(i uint) (lo, hi uint32) {
	off := uint32(offArgs + 8*i)
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 { // big-endian
		return off + 4, off
	}
	return off, off + 4
}

// answer is what a ret gives for an action of the profile.
func answer(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, string, error) {
	errno := uint(unix.EPERM) // the runtime spec's default errno
	if errnoRet != nil {
		errno = *errnoRet
	}
	switch a {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, "ALLOW", nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | uint32(errno&unix.SECCOMP_RET_DATA), "ERRNO(" + errnoName(errno) + ")", nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, "KILL_THREAD", nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, "KILL_PROCESS", nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, "TRAP", nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | uint32(errno&unix.SECCOMP_RET_DATA), "TRACE", nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, "LOG", nil
	case specs.ActNotify:
		return 0, "", errors.New("SCMP_ACT_NOTIFY needs a seccomp agent, which mini does not have")
	}
	return 0, "", fmt.Errorf("unknown action %q", a)
}

func errnoName(n uint) string {
	if name := unix.ErrnoName(syscall.Errno(n)); name != "" {
		return name
	}
	return fmt.Sprint(n)
}

func isAllow(a specs.LinuxSeccompAction) bool {
	return a == specs.ActAllow || a == specs.ActLog || a == specs.ActTrace
}

// filterFlags turns the profile's flags into seccomp(2)'s.
func filterFlags(flags []specs.LinuxSeccompFlag) (uint, error) {
	var out uint
	for _, f := range flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			out |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			out |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case "SECCOMP_FILTER_FLAG_TSYNC":
			out |= unix.SECCOMP_FILTER_FLAG_TSYNC
		default:
			return 0, fmt.Errorf("flag %s: mini knows SECCOMP_FILTER_FLAG_LOG, _SPEC_ALLOW and _TSYNC", f)
		}
	}
	return out, nil
}

// encode packs the program as seccomp(2) reads it, struct sock_filter by
// struct sock_filter in the machine's byte order, for the spec.
func encode(ins []unix.SockFilter) []byte {
	b := make([]byte, 0, 8*len(ins))
	for _, in := range ins {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b
}

// decode is encode's reverse.
func decode(b []byte) []unix.SockFilter {
	out := make([]unix.SockFilter, 0, len(b)/8)
	for ; len(b) >= 8; b = b[8:] {
		out = append(out, unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b),
			Jt:   b[2], Jf: b[3],
			K: binary.NativeEndian.Uint32(b[4:]),
		})
	}
	return out
}

// disasm is one instruction as bpf_asm(8) writes it, with its note.
func disasm(i int, in unix.SockFilter, note string) string {
	var s string
	switch in.Code {
	case opLd:
		s = fmt.Sprintf("ld [%d]", in.K)
	case opAnd:
		s = fmt.Sprintf("and #%#x", in.K)
	case opJeq, opJgt, opJge:
		op := map[uint16]string{opJeq: "jeq", opJgt: "jgt", opJge: "jge"}[in.Code]
		k := fmt.Sprint(in.K) // a system call's number
		if in.K > 0xffff {
			k = fmt.Sprintf("%#x", in.K) // an architecture, flags
		}
		s = fmt.Sprintf("%s #%s, %d, %d", op, k, i+1+int(in.Jt), i+1+int(in.Jf))
	case opJa:
		s = fmt.Sprintf("ja %d", i+1+int(in.K))
	case opRet:
		s = fmt.Sprintf("ret #%#x", in.K)
	default:
		s = fmt.Sprintf("code %#x jt %d jf %d k %#x", in.Code, in.Jt, in.Jf, in.K)
	}
	if note != "" {
		s = fmt.Sprintf("%-30s ; %s", s, note)
	}
	return strings.TrimRight(fmt.Sprintf("%04d: %s", i, s), " ")
}
