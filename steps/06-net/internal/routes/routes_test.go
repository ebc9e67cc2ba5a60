package routes

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	// /proc/net/route of a little-endian host (amd64, arm64: the kernel
	// prints the addresses as native integers): a default route, the
	// subnet of eth0, and a bridge's /24.
	data := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"mini0\t0000590A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: "eth0"},
		{Dst: netip.MustParsePrefix("192.0.2.0/24"), Dev: "eth0"},
		{Dst: netip.MustParsePrefix("10.89.0.0/24"), Dev: "mini0"},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}
