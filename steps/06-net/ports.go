package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"mini/steps"
	"mini/steps/06-net/internal/proxy"
)

// Published ports, -p [IP:]HOSTPORT:CONTAINERPORT[/tcp|/udp], in bridge
// mode. A container's address is on the bridge, which only the host
// reaches. Docker publishes a port two ways at once: DNAT rules in the
// host's nat table, and docker-proxy, a program that listens on the host
// port and copies each connection to the container. mini does the second
// only, in the mini that holds the container (mini run, or the monitor of
// run -d):
//
//   - A port in use, by another container or a host program, is found by
//     bind(2) itself, atomically: no check that another mini could beat.
//   - localhost works as it is. A DNAT to the bridge of a packet from
//     127.0.0.1 needs route_localnet=1, which lets the kernel route 127/8
//     off the host, a hole (CVE-2020-8558), and a rule to rewrite the
//     source too.
//   - Nothing is left to reclaim: the kernel closes the listening sockets
//     of a mini killed by SIGKILL. Rules would stay until someone removed
//     them.
//
// What it costs: the server in the container sees every client as the
// bridge's address (the proxy's), not as itself; and each connection goes
// through mini, a copy each way. docs/06-net.md shows both ways.
//
// The proxy itself, sockets and copies, is internal/proxy.

// ParsePort reads -p [IP:]HOSTPORT:CONTAINERPORT[/tcp|/udp].
func ParsePort(s string) (steps.Port, error) {
	bad := fmt.Errorf("-p %q: want [IP:]HOSTPORT:CONTAINERPORT[/tcp|/udp], e.g. 8080:80 or 127.0.0.1:8080:80/tcp", s)
	p := steps.Port{HostIP: "0.0.0.0", Proto: "tcp"}
	rest, proto, hasProto := strings.Cut(s, "/")
	if hasProto {
		if proto != "tcp" && proto != "udp" {
			return p, fmt.Errorf("-p %q: the protocol is tcp or udp", s)
		}
		p.Proto = proto
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return p, bad
	}
	host, cport := rest[:i], rest[i+1:]
	if j := strings.LastIndexByte(host, ':'); j >= 0 {
		ip, err := netip.ParseAddr(strings.Trim(host[:j], "[]"))
		if err != nil || !ip.Is4() {
			return p, fmt.Errorf("-p %q: %q is not an IPv4 address of the host", s, host[:j])
		}
		p.HostIP, host = ip.String(), host[j+1:]
	}
	var err1, err2 error
	p.HostPort, err1 = strconv.Atoi(host)
	p.ContainerPort, err2 = strconv.Atoi(cport)
	if err1 != nil || err2 != nil || p.HostPort < 1 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 {
		return p, bad
	}
	return p, nil
}

// checkPorts parses -p into Spec.Ports, in bridge mode only: with --net
// host the container's ports are the host's, with none there is nothing to
// reach, with container:NAME they are the other container's.
func checkPorts(s *steps.Spec) error {
	if len(s.Publish) == 0 {
		return nil
	}
	if s.Net != Bridge {
		return fmt.Errorf("-p publishes a port of a container on the bridge, and --net is %s: use --net bridge, or no -p", s.Net)
	}
	s.Ports = nil
	seen := map[string]bool{}
	for _, f := range s.Publish {
		p, err := ParsePort(f)
		if err != nil {
			return err
		}
		key := fmt.Sprintf("%d/%s", p.HostPort, p.Proto)
		if seen[key] {
			return fmt.Errorf("-p %q: host port %s is published twice", f, key)
		}
		seen[key] = true
		s.Ports = append(s.Ports, p)
	}
	return nil
}

// proxies are the proxies of the containers this mini holds, by id.
var proxies = struct {
	sync.Mutex
	byID map[string]*proxy.Proxy
}{byID: map[string]*proxy.Proxy{}}

// publish binds every published port of s and starts copying what comes
// to the container's address. It fails, with nothing left bound, if a
// port is in use (Cleanup closes what was bound).
func publish(ctx *steps.Context) error {
	s := ctx.Spec
	if len(s.Ports) == 0 {
		return nil
	}
	addr, _, err := Leased(s)
	if err != nil {
		return err
	}
	px := proxy.New()
	proxies.Lock()
	proxies.byID[s.ID] = px
	proxies.Unlock()
	for _, p := range s.Ports {
		host := netip.AddrPortFrom(netip.MustParseAddr(p.HostIP), uint16(p.HostPort))
		to := netip.AddrPortFrom(addr.Addr(), uint16(p.ContainerPort))
		ctx.Tracef("socket, bind %s/%s, listen: a copy of each connection goes to %s (a userland proxy, as docker-proxy)", host, p.Proto, to)
		if err := px.Listen(p.Proto, host, to); err != nil {
			why := ""
			if errors.Is(err, unix.EADDRINUSE) {
				why = " (another container publishes it, or a program of the host listens there: choose another host port)"
			}
			return fmt.Errorf("-p %s: %w%s", p, err, why)
		}
	}
	return nil
}

// unpublish closes the listening sockets and the connections of s.
func unpublish(ctx *steps.Context) {
	proxies.Lock()
	px := proxies.byID[ctx.Spec.ID]
	delete(proxies.byID, ctx.Spec.ID)
	proxies.Unlock()
	if px == nil {
		return
	}
	ctx.Tracef("close the published ports")
	px.Close()
}
