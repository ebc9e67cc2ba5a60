package steps

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// KernelRelease is uname -r; "" if uname(2) fails, which KernelAtLeast
// passes.
func KernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// KernelAtLeast says whether a kernel release ("6.1.0-18-amd64") is at
// least major.minor. A release it cannot read passes: the system call
// will tell.
func KernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(leadingDigits(parts[1]))
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

// leadingDigits is the number s starts with: "11-rc1" -> "11".
func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
