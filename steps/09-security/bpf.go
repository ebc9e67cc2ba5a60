package security

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
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
// note for --trace, when trace is set (writing the notes costs more than
// writing the program).
type program struct {
	ins   []unix.SockFilter
	notes []string
	trace bool
}

func (p *program) emit(code uint16, jt, jf uint8, k uint32, note string) {
	p.ins = append(p.ins, unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
	if p.trace {
		p.notes = append(p.notes, note)
	}
}

// note formats a note, only when the program keeps them.
func (p *program) note(format string, args ...any) string {
	if !p.trace {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

func (p *program) append(q *program) {
	p.ins = append(p.ins, q.ins...)
	p.notes = append(p.notes, q.notes...)
}

// rule is one rule of a profile: argument conditions that must all hold,
// and the answer then.
type rule struct {
	ret  uint32
	what string // the answer, for the trace: ALLOW, ERRNO(EPERM)
	args []specs.LinuxSeccompArg
}

// named is one system call name of a rule, in the profile's order.
type named struct {
	name string
	rule int // index in the rules
}

// compile writes the filter for profile p, as the profile library resolved
// it for this container; with trace, the program keeps a note beside each
// instruction. source names the profile in errors.
func compile(p *specs.LinuxSeccomp, source string, trace bool) (*program, uint, error) {
	def, defWhat, err := answer(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: defaultAction: %w", source, err)
	}
	flags, err := filterFlags(p.Flags)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", source, err)
	}
	rules := make([]rule, 0, len(p.Syscalls))
	count := 0
	for _, sc := range p.Syscalls {
		count += len(sc.Names)
	}
	names := make([]named, 0, count)
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
			names = append(names, named{n, len(rules)})
		}
		rules = append(rules, rule{ret: ret, what: what, args: sc.Args})
	}
	// An allow-list answers ENOSYS for calls newer than the profile, as
	// runc's filters do; a deny-list (default allow) lets them run.
	stub := !isAllow(p.DefaultAction)

	prog := &program{trace: trace}
	var sections []*program
	tabs := filterTables(p.Architectures)
	for _, t := range tabs {
		s, err := section(t, names, rules, def, defWhat, stub, trace)
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

// hit is a name of the profile that this architecture has, by its number
// and its index in the profile's names (no pointer: sorting moves it).
type hit struct {
	nr   uint32
	name int32
}

// section writes the part of the filter for one architecture.
func section(t *table, names []named, rules []rule, def uint32, defWhat string, stub, trace bool) (*program, error) {
	// The profile's names by number on this architecture, in the profile's
	// order for each number. A name this architecture does not have
	// (arm_fadvise64_64 on x86-64) is skipped, as libseccomp skips it.
	hits := make([]hit, 0, len(names))
	for i, n := range names {
		if nr, ok := t.number(n.name); ok {
			hits = append(hits, hit{nr, int32(i)})
		}
	}
	// By number, then in the profile's order.
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Or(cmp.Compare(a.nr, b.nr), cmp.Compare(a.name, b.name)) })

	s := &program{trace: trace}
	s.emit(opLd, 0, 0, offNr, t.arch+": A = seccomp_data.nr")
	if stub && len(hits) > 0 {
		if t.arch == "SCMP_ARCH_S390X" {
			// On s390x, calls above 255 go through the number 0 and come
			// here as 0 when the kernel does not know them (as runc does).
			s.emit(opJeq, 0, 1, 0, "s390x: a call this kernel does not know")
			s.emit(opRet, 0, 0, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS), "ERRNO(ENOSYS)")
		}
		last := hits[len(hits)-1]
		s.emit(opJgt, 0, 1, last.nr, s.note("above %s, the profile's last call here", names[last.name].name))
		s.emit(opRet, 0, 0, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS), "ERRNO(ENOSYS): newer than the profile")
	}
	// Each call, or run of calls, becomes a test and its answer: an entry,
	// written into tests; then the entries are laid out as a binary search.
	tests := &program{trace: trace}
	var entries []entry
	block := &program{trace: trace} // one call's rules, written again for each
	for i := 0; i < len(hits); {
		// hits[i:j] are the names of one number, the rules of one call.
		j := i + 1
		for j < len(hits) && hits[j].nr == hits[i].nr {
			j++
		}
		call := hits[i:j]
		nr, name := call[0].nr, names[call[0].name].name
		start := len(tests.ins)
		ret, ok := simple(call, names, rules)
		if ok {
			// No argument to check: one answer. A run of consecutive
			// calls with the same one is one range test.
			k, end := j, j
			for k < len(hits) && hits[k].nr == hits[end-1].nr+1 {
				e := k + 1
				for e < len(hits) && hits[e].nr == hits[k].nr {
					e++
				}
				if r, ok := simple(hits[k:e], names, rules); !ok || r != ret {
					break
				}
				k, end = e, e
			}
			what := rules[names[call[0].name].rule].what
			if end > j {
				top := hits[end-1]
				topName := names[top.name].name
				tests.emit(opJgt, 2, 0, top.nr, tests.note("above %s (%d) to %s (%d): on", name, nr, topName, top.nr))
				tests.emit(opJge, 0, 1, nr, tests.note("%s (%d) to %s (%d)", name, nr, topName, top.nr))
			} else {
				tests.emit(opJeq, 0, 1, nr, name)
			}
			tests.emit(opRet, 0, 0, ret, what)
			entries = append(entries, entry{nr, name, start, len(tests.ins)})
			i = end
			continue
		}
		block.ins, block.notes = block.ins[:0], block.notes[:0]
		if err := rulesCode(block, call, names, rules, def, defWhat); err != nil {
			return nil, err
		}
		if len(block.ins) <= 255 {
			tests.emit(opJeq, 0, uint8(len(block.ins)), nr, name)
		} else {
			// Too far for a conditional jump: over an unconditional one.
			tests.emit(opJeq, 1, 0, nr, name)
			tests.emit(opJa, 0, 0, uint32(len(block.ins)), "past "+name+"'s rules")
		}
		tests.append(block)
		entries = append(entries, entry{nr, name, start, len(tests.ins)})
		i = j
	}
	s.search(tests, entries, def, defWhat)
	return s, nil
}

// entry is the test of one call, or run of calls, from lo up: instructions
// start to end of a section's tests.
type entry struct {
	lo         uint32
	name       string
	start, end int
}

// leafSize is how many entries a leaf of the search tests one after the other.
const leafSize = 4

// search lays the entries out as a binary search on the call's number,
// as libseccomp does for runc (SCMP_FLTATR_CTL_OPTIMIZE): a call is found
// in about log2(entries) comparisons instead of one per entry before it.
// A node sends the numbers from its middle entry's up to its upper half;
// a leaf tests its few entries in turn, and answers the default for a
// number none of them has.
func (p *program) search(tests *program, es []entry, def uint32, defWhat string) {
	if len(es) <= leafSize {
		for _, e := range es {
			p.ins = append(p.ins, tests.ins[e.start:e.end]...)
			if p.trace {
				p.notes = append(p.notes, tests.notes[e.start:e.end]...)
			}
		}
		p.emit(opRet, 0, 0, def, defWhat+": the default")
		return
	}
	m := len(es) / 2
	p.emit(opJge, 0, 1, es[m].lo, p.note("from %s (%d) up: the upper half", es[m].name, es[m].lo))
	p.emit(opJa, 0, 0, uint32(searchLen(es[:m])), "")
	p.search(tests, es[:m], def, defWhat)
	p.search(tests, es[m:], def, defWhat)
}

// searchLen is how many instructions search writes for es.
func searchLen(es []entry) int {
	if len(es) <= leafSize {
		n := 1
		for _, e := range es {
			n += e.end - e.start
		}
		return n
	}
	m := len(es) / 2
	return 2 + searchLen(es[:m]) + searchLen(es[m:])
}

// simple says whether a call's rules come to one answer with no argument
// to check, and which: the first rule's, when none has conditions (see
// rulesCode).
func simple(call []hit, names []named, rules []rule) (uint32, bool) {
	for _, h := range call {
		if len(rules[names[h.name].rule].args) > 0 {
			return 0, false
		}
	}
	return rules[names[call[0].name].rule].ret, true
}

// rulesCode writes one system call's rules into b, ending with a ret
// whatever happens. libseccomp's order: the rules with argument conditions
// first, in the profile's order, the first that holds answers; then the
// call's rule without conditions, if it has one, else the default action.
// Of two rules without conditions the first stands, as in libseccomp
// (podman's profile allows setns, then lists it again to refuse it to a
// container without CAP_SYS_ADMIN: runc and crun allow it).
func rulesCode(b *program, call []hit, names []named, rules []rule, def uint32, defWhat string) error {
	final, finalWhat, unconditional := def, defWhat+": no rule holds", false
	for i := 0; i < len(call); i++ {
		r := rules[names[call[i].name].rule]
		if len(r.args) == 0 {
			if !unconditional {
				final, finalWhat, unconditional = r.ret, r.what, true
			}
			continue
		}
		// Rules that each compare the same argument for equality, with
		// the same high word and the same answer (docker's socket domains),
		// share their loads: the argument once, then one jeq a value.
		j := i + 1
		for j < len(call) && sameEquality(r, rules[names[call[j].name].rule]) {
			j++
		}
		if j-i < 3 {
			ruleCode(b, r)
			continue
		}
		var values []uint32
		for _, h := range call[i:j] {
			values = append(values, uint32(rules[names[h.name].rule].args[0].Value))
		}
		equalities(b, r, values)
		i = j - 1
	}
	b.emit(opRet, 0, 0, final, finalWhat)
	return nil
}

// sameEquality says whether r and o are both one equality on the same
// argument, with the same high word and the same answer.
func sameEquality(r, o rule) bool {
	if len(r.args) != 1 || len(o.args) != 1 || r.ret != o.ret {
		return false
	}
	a, c := r.args[0], o.args[0]
	return a.Op == specs.OpEqualTo && c.Op == specs.OpEqualTo && a.Index == c.Index && a.Value>>32 == c.Value>>32
}

// equalities writes rules that hold when argument r.args[0].Index is one
// of values (their low words; the high word is r's), all answering r's.
func equalities(b *program, r rule, values []uint32) {
	a := r.args[0]
	lo, hi := argOffsets(a.Index)
	n := len(values)
	b.emit(opLd, 0, 0, hi, b.note("args[%d] high", a.Index))
	b.emit(opJeq, 0, uint8(n+2), uint32(a.Value>>32), "")
	b.emit(opLd, 0, 0, lo, b.note("args[%d] low", a.Index))
	for k, v := range values {
		// Equal: on to the ret after the last value; the last one
		// skips the ret when it differs too.
		if k < n-1 {
			b.emit(opJeq, uint8(n-1-k), 0, v, b.note("args[%d] == %#x", a.Index, v))
		} else {
			b.emit(opJeq, 0, 1, v, b.note("args[%d] == %#x", a.Index, v))
		}
	}
	b.emit(opRet, 0, 0, r.ret, r.what)
}

// ruleCode writes one rule into b: each argument condition jumps past the
// rule's ret when it does not hold ("fail"), else falls through to the next.
func ruleCode(b *program, r rule) {
	type failing struct {
		at     int
		onTrue bool // the jump taken when the comparison is true fails
	}
	var fails []failing
	fail := func(code uint16, onTrue bool, k uint32, note string) {
		fails = append(fails, failing{len(b.ins), onTrue})
		b.emit(code, 0, 0, k, note)
	}
	for _, a := range r.args {
		lo, hi := argOffsets(a.Index)
		v := a.Value
		switch a.Op {
		case specs.OpEqualTo:
			b.emit(opLd, 0, 0, hi, b.note("args[%d] high", a.Index))
			fail(opJeq, false, uint32(v>>32), "")
			b.emit(opLd, 0, 0, lo, b.note("args[%d] low", a.Index))
			fail(opJeq, false, uint32(v), b.note("args[%d] == %#x", a.Index, v))
		case specs.OpNotEqual:
			b.emit(opLd, 0, 0, hi, b.note("args[%d] high", a.Index))
			b.emit(opJeq, 0, 2, uint32(v>>32), "high words differ: holds")
			b.emit(opLd, 0, 0, lo, b.note("args[%d] low", a.Index))
			fail(opJeq, true, uint32(v), b.note("args[%d] != %#x", a.Index, v))
		case specs.OpMaskedEqual:
			d := a.ValueTwo
			b.emit(opLd, 0, 0, hi, b.note("args[%d] high", a.Index))
			b.emit(opAnd, 0, 0, uint32(v>>32), "")
			fail(opJeq, false, uint32(d>>32), "")
			b.emit(opLd, 0, 0, lo, b.note("args[%d] low", a.Index))
			b.emit(opAnd, 0, 0, uint32(v), "")
			fail(opJeq, false, uint32(d), b.note("args[%d] & %#x == %#x", a.Index, v, d))
		case specs.OpGreaterThan, specs.OpGreaterEqual:
			// Higher high word: holds; lower: fails; equal: the low words decide.
			b.emit(opLd, 0, 0, hi, b.note("args[%d] high", a.Index))
			b.emit(opJgt, 3, 0, uint32(v>>32), "")
			fail(opJeq, false, uint32(v>>32), "")
			b.emit(opLd, 0, 0, lo, b.note("args[%d] low", a.Index))
			if a.Op == specs.OpGreaterThan {
				fail(opJgt, false, uint32(v), b.note("args[%d] > %#x", a.Index, v))
			} else {
				fail(opJge, false, uint32(v), b.note("args[%d] >= %#x", a.Index, v))
			}
		case specs.OpLessThan, specs.OpLessEqual:
			b.emit(opLd, 0, 0, hi, b.note("args[%d] high", a.Index))
			fail(opJgt, true, uint32(v>>32), "")
			b.emit(opJeq, 0, 2, uint32(v>>32), "lower high word: holds")
			b.emit(opLd, 0, 0, lo, b.note("args[%d] low", a.Index))
			if a.Op == specs.OpLessThan {
				fail(opJge, true, uint32(v), b.note("args[%d] < %#x", a.Index, v))
			} else {
				fail(opJgt, true, uint32(v), b.note("args[%d] <= %#x", a.Index, v))
			}
		}
	}
	b.emit(opRet, 0, 0, r.ret, r.what)
	// "fail" is the instruction after the ret: from instruction f, skip
	// the ones between them.
	end := len(b.ins)
	for _, f := range fails {
		skip := uint8(end - f.at - 1)
		if f.onTrue {
			b.ins[f.at].Jt = skip
		} else {
			b.ins[f.at].Jf = skip
		}
	}
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
