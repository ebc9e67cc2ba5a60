package security

import (
	"testing"
)

// BenchmarkFilter is what Validate does for docker's default profile on
// each run: the profile, resolved for docker's 14 capabilities, compiled.
func BenchmarkFilter(b *testing.B) {
	for i := 0; i < b.N; i++ {
		p, what, err := profile("", DefaultCaps)
		if err != nil {
			b.Fatal(err)
		}
		prog, _, err := compile(p, what, false)
		if err != nil {
			b.Fatal(err)
		}
		_ = encode(prog.ins)
	}
}

func BenchmarkProfile(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, _, err := profile("", DefaultCaps); err != nil {
			b.Fatal(err)
		}
	}
}
