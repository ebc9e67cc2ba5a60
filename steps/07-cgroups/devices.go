package cgroups

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"mini/steps"
)

// Devices on cgroup v2 have no files: which devices a cgroup's processes
// may open or make is decided by an eBPF program attached to the cgroup
// (BPF_PROG_TYPE_CGROUP_DEVICE, Linux 4.15), which the kernel runs at each
// open(2) and mknod(2) of a device node, with a struct
// bpf_cgroup_dev_ctx:
//
//	offset 0  u32 access_type   the device type (low 16 bits: 1 block, 2
//	                            char) and the access (high 16: 1 mknod,
//	                            2 read, 4 write)
//	offset 4  u32 major
//	offset 8  u32 minor
//
// Returning 1 allows, 0 refuses (EPERM). mini writes the program from the
// rules, as the v1 files would apply them: the last rule that matches
// decides, so the program tries them from the last, and refuses what none
// matches. Each rule is a block that falls through to the next on the
// first test that fails:
//
//	r2 = type; r3 = access; r4 = major; r5 = minor
//	if r2 != TYPE goto next          (not for "a": every type)
//	r6 = r3; r6 &= ~ACCESS
//	if r6 != 0 goto next              (an access the rule does not name)
//	if r4 != MAJOR goto next          (not for "*")
//	if r5 != MINOR goto next
//	r0 = ALLOW; exit
//	next: ...
//	r0 = 0; exit

// bpfInsn is struct bpf_insn: an opcode, two registers (4 bits each), a
// jump offset and an immediate.
type bpfInsn struct {
	code uint8
	regs uint8 // dst in the low 4 bits, src in the high 4
	off  int16
	imm  int32
}

// The eBPF opcodes the program uses (linux/bpf.h, linux/bpf_common.h).
const (
	bpfLdxW  = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W   // dst = *(u32 *)(src + off)
	bpfAnd   = unix.BPF_ALU64 | unix.BPF_AND | unix.BPF_K // dst &= imm
	bpfRsh   = unix.BPF_ALU64 | unix.BPF_RSH | unix.BPF_K // dst >>= imm
	bpfMovK  = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K // dst = imm
	bpfMovX  = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X // dst = src
	bpfJneK  = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K   // if dst != imm: pc += off
	bpfExit  = unix.BPF_JMP | unix.BPF_EXIT               // return r0
	devTypeA = 0                                          // every type
)

func insn(code uint8, dst, src uint8, off int16, imm int32) bpfInsn {
	return bpfInsn{code: code, regs: dst | src<<4, off: off, imm: imm}
}

// deviceProgram writes the program for rules.
func deviceProgram(rules []steps.DeviceRule) ([]bpfInsn, error) {
	prog := []bpfInsn{
		insn(bpfLdxW, 2, 1, 0, 0), // r2 = access_type
		insn(bpfAnd, 2, 0, 0, 0xffff),
		insn(bpfLdxW, 3, 1, 0, 0), // r3 = access_type >> 16
		insn(bpfRsh, 3, 0, 0, 16),
		insn(bpfLdxW, 4, 1, 4, 0), // r4 = major
		insn(bpfLdxW, 5, 1, 8, 0), // r5 = minor
	}
	for i := len(rules) - 1; i >= 0; i-- {
		block, err := ruleBlock(rules[i])
		if err != nil {
			return nil, err
		}
		prog = append(prog, block...)
	}
	return append(prog, insn(bpfMovK, 0, 0, 0, 0), insn(bpfExit, 0, 0, 0, 0)), nil
}

// ruleBlock is one rule's block: its tests jump past its end.
func ruleBlock(r steps.DeviceRule) ([]bpfInsn, error) {
	typ := map[string]int32{"a": devTypeA, "": devTypeA, "c": unix.BPF_DEVCG_DEV_CHAR, "b": unix.BPF_DEVCG_DEV_BLOCK}[r.Type]
	if _, ok := map[string]bool{"a": true, "": true, "c": true, "b": true}[r.Type]; !ok {
		return nil, fmt.Errorf("linux.resources.devices: type %q: want a, c or b", r.Type)
	}
	var access int32
	for _, c := range r.Access {
		switch c {
		case 'r':
			access |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			access |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			access |= unix.BPF_DEVCG_ACC_MKNOD
		default:
			return nil, fmt.Errorf("linux.resources.devices: access %q: want some of r, w and m", r.Access)
		}
	}
	var tests [][2]int32 // (register, value) pairs that must be equal
	if typ != devTypeA {
		tests = append(tests, [2]int32{2, typ})
	}
	if typ != devTypeA && r.Major >= 0 {
		tests = append(tests, [2]int32{4, int32(r.Major)})
	}
	if typ != devTypeA && r.Minor >= 0 {
		tests = append(tests, [2]int32{5, int32(r.Minor)})
	}
	// Length: a jne per test, the access check (3), and the answer (2).
	n := len(tests) + 3 + 2
	var b []bpfInsn
	jne := func(reg uint8, v int32) { b = append(b, insn(bpfJneK, reg, 0, int16(n-len(b)-1), v)) }
	for _, t := range tests[:min(1, len(tests))] {
		jne(uint8(t[0]), t[1])
	}
	b = append(b, insn(bpfMovX, 6, 3, 0, 0), insn(bpfAnd, 6, 0, 0, ^access&0xffff))
	jne(6, 0)
	for _, t := range tests[min(1, len(tests)):] {
		jne(uint8(t[0]), t[1])
	}
	allow := int32(0)
	if r.Allow {
		allow = 1
	}
	return append(b, insn(bpfMovK, 0, 0, 0, allow), insn(bpfExit, 0, 0, 0, 0)), nil
}

// progLoadAttr is the part of union bpf_attr that BPF_PROG_LOAD reads; the
// kernel takes a shorter attr than its own, the rest being zero.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
}

// loadProgram loads prog with bpf(BPF_PROG_LOAD), without the verifier's
// log: with a log level set, a log larger than its buffer fails the load
// itself (ENOSPC), and the branches of a few rules write more than a page.
// A refused program is loaded again with a log, to say why.
func loadProgram(prog []bpfInsn) (int, error) {
	fd, errno := progLoad(prog, nil)
	if errno == nil {
		return fd, nil
	}
	err := fmt.Errorf("bpf(BPF_PROG_LOAD) of the device rules: %w", errno)
	log := make([]byte, 1<<20)
	if _, again := progLoad(prog, log); again != nil {
		// The verifier's verdict is the log's last line.
		lines := strings.Split(strings.TrimSpace(string(bytes.TrimRight(log, "\x00"))), "\n")
		err = fmt.Errorf("%w (the verifier: %s)", err, lines[len(lines)-1])
	}
	return -1, err
}

// progLoad is bpf(BPF_PROG_LOAD) of prog, a BPF_PROG_TYPE_CGROUP_DEVICE,
// with the verifier's log in log if it is not nil.
func progLoad(prog []bpfInsn, log []byte) (int, error) {
	license := []byte("Apache-2.0\x00")
	load := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE, insnCnt: uint32(len(prog)),
		insns:   uint64(uintptr(unsafe.Pointer(&prog[0]))),
		license: uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	if log != nil {
		load.logLevel, load.logSize, load.logBuf = 1, uint32(len(log)), uint64(uintptr(unsafe.Pointer(&log[0])))
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&load)), unsafe.Sizeof(load))
	runtime.KeepAlive(prog)
	runtime.KeepAlive(license)
	runtime.KeepAlive(log)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// progAttachAttr is the part of union bpf_attr that BPF_PROG_ATTACH reads.
type progAttachAttr struct {
	targetFD    uint32
	attachBPFFD uint32
	attachType  uint32
	attachFlags uint32
}

// setDevicesV2: load the program with bpf(BPF_PROG_LOAD) and attach it
// to the container's cgroup with bpf(BPF_PROG_ATTACH). The cgroup holds
// it from then on (the fds may close), until the cgroup is removed.
// BPF_F_ALLOW_MULTI: the programs of the cgroups above run too, and all
// must allow.
func setDevicesV2(ctx *steps.Context, dir string, rules []steps.DeviceRule) error {
	prog, err := deviceProgram(rules)
	if err != nil {
		return err
	}
	var lines []string
	for _, r := range rules {
		lines = append(lines, ruleLine(r))
	}
	ctx.Tracef("bpf(BPF_PROG_LOAD, CGROUP_DEVICE, %d instructions): %s", len(prog), strings.Join(lines, "; "))
	fd, err := loadProgram(prog)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	cg, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(cg)
	ctx.Tracef("bpf(BPF_PROG_ATTACH, %s, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)", dir)
	attach := progAttachAttr{targetFD: uint32(cg), attachBPFFD: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE, attachFlags: unix.BPF_F_ALLOW_MULTI}
	if _, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&attach)), unsafe.Sizeof(attach)); errno != 0 {
		return fmt.Errorf("bpf(BPF_PROG_ATTACH) to %s: %w", dir, errno)
	}
	return nil
}
