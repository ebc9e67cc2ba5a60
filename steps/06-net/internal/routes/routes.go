// Package routes reads the host's IPv4 routes from /proc/net/route, for
// step 6's check that --subnet does not hide a route the host has already.
// Machinery, not the lesson (steps/06-net/net.go).
package routes

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Route is one route of the host's main IPv4 table: where to, and on which
// device.
type Route struct {
	Dst netip.Prefix
	Dev string
}

// Host reads the host's main IPv4 table from /proc/net/route (proc(5)),
// what "route -n" prints: the same routes as "ip -4 route", without a
// netlink request whose answer would carry every attribute of each.
func Host() ([]Route, error) {
	const path = "/proc/net/route"
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	routes, err := Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return routes, nil
}

// Parse reads the lines of /proc/net/route: a line a route, its device
// first, then destination, gateway, flags, ..., and mask, the addresses in
// hex as the kernel keeps them, network byte order read as an integer of
// this machine.
func Parse(data string) ([]Route, error) {
	var out []Route
	for _, line := range strings.Split(data, "\n")[1:] { // after the header
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		dst, err := procAddr(f[1])
		if err != nil {
			return nil, fmt.Errorf("destination %q: %w", f[1], err)
		}
		mask, err := procAddr(f[7])
		if err != nil {
			return nil, fmt.Errorf("mask %q: %w", f[7], err)
		}
		m := mask.As4()
		bits := 0
		for _, b := range m {
			for ; b&0x80 != 0; b <<= 1 {
				bits++
			}
		}
		out = append(out, Route{Dst: netip.PrefixFrom(dst, bits), Dev: f[0]})
	}
	return out, nil
}

// procAddr reads an IPv4 address as /proc/net/route writes it.
func procAddr(hex string) (netip.Addr, error) {
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return netip.Addr{}, err
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), nil
}
