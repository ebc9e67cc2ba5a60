package steps

import "testing"

func TestKernelAtLeast(t *testing.T) {
	for release, want := range map[string]bool{
		"6.1.0-18-amd64":  true,
		"5.11.0":          true,
		"5.10.0-28-amd64": false,
		"4.19.0":          false,
		"6.18.44-fc-v669": true,
		"5.11-rc1":        true,
		"weird":           true,
	} {
		if got := KernelAtLeast(release, 5, 11); got != want {
			t.Errorf("KernelAtLeast(%q, 5, 11) = %v, want %v", release, got, want)
		}
	}
}
