package network

import "testing"

func TestCheckBridgeName(t *testing.T) {
	for _, ok := range []string{"mini0", "br-test_1.a", "fifteen-chars-x"} {
		if err := CheckBridgeName(ok); err != nil {
			t.Errorf("CheckBridgeName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "sixteen-chars-xx", "a/b", "a:b", "a b", ".", ".."} {
		if err := CheckBridgeName(bad); err == nil {
			t.Errorf("CheckBridgeName(%q) = nil, want an error", bad)
		}
	}
}

func TestVethName(t *testing.T) {
	if got := VethName("0123456789ab"); got != "mini0123456789a" || len(got) > 15 {
		t.Errorf("VethName = %q, want mini0123456789a (at most 15 bytes)", got)
	}
}
