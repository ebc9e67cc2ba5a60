package security

import "sort"

// The tables are generated from golang.org/x/sys/unix, which generates its
// own from each architecture's kernel headers: zsysnum_GOARCH.go holds the
// tables a mini built for GOARCH needs, zsysnames.go the names of every
// architecture.
//go:generate go run ../../scripts/sysnum

// table is one architecture's system calls, sorted by name.
type table struct {
	arch  string // libseccomp's name for it, as profiles spell it: SCMP_ARCH_X86_64
	audit uint32 // what the kernel puts in seccomp_data.arch: AUDIT_ARCH_X86_64
	calls []call
}

type call struct {
	name string
	nr   uint32
}

// number is the number of the system call name on t's architecture.
func (t *table) number(name string) (uint32, bool) {
	i := sort.Search(len(t.calls), func(i int) bool { return t.calls[i].name >= name })
	if i < len(t.calls) && t.calls[i].name == name {
		return t.calls[i].nr, true
	}
	return 0, false
}

// name is the name of system call nr on t's architecture, for the trace.
func (t *table) name(nr uint32) string {
	for _, c := range t.calls {
		if c.nr == nr {
			return c.name
		}
	}
	return "?"
}

// knownName says whether name is a system call of any architecture.
func knownName(name string) bool {
	i := sort.SearchStrings(allNames, name)
	return i < len(allNames) && allNames[i] == name
}

// tableFor returns the table of the architecture libseccomp calls arch.
func tableFor(arch string) *table {
	for i := range tables {
		if tables[i].arch == arch {
			return &tables[i]
		}
	}
	return nil
}
