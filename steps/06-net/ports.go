package network

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"mini/steps"
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
// The sockets are made with the system calls themselves (socket, bind,
// listen, accept4, connect), non-blocking, and handed to Go's poller as
// files: the net package's dialer and resolver, which mini needs nowhere
// else, would make every mini start slower.

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

// proxy is the listening side of a container's published ports.
type proxy struct {
	mu      sync.Mutex
	closers map[io.Closer]bool // listening sockets and connections
	done    bool
}

// proxies are the proxies of the containers this mini holds, by id.
var proxies = struct {
	sync.Mutex
	byID map[string]*proxy
}{byID: map[string]*proxy{}}

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
	px := &proxy{closers: map[io.Closer]bool{}}
	proxies.Lock()
	proxies.byID[s.ID] = px
	proxies.Unlock()
	for _, p := range s.Ports {
		host := netip.AddrPortFrom(netip.MustParseAddr(p.HostIP), uint16(p.HostPort))
		to := netip.AddrPortFrom(addr.Addr(), uint16(p.ContainerPort))
		ctx.Tracef("socket, bind %s/%s, listen: a copy of each connection goes to %s (a userland proxy, as docker-proxy)", host, p.Proto, to)
		if err := px.listen(p.Proto, host, to); err != nil {
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
	px.mu.Lock()
	px.done = true
	closers := px.closers
	px.closers = nil
	px.mu.Unlock()
	for c := range closers {
		c.Close()
	}
}

// keep registers c to be closed by unpublish; if it ran already, c is
// closed now and keep says false.
func (px *proxy) keep(c io.Closer) bool {
	px.mu.Lock()
	defer px.mu.Unlock()
	if px.done {
		c.Close()
		return false
	}
	px.closers[c] = true
	return true
}

// close closes c, which its copy is done with.
func (px *proxy) close(c io.Closer) {
	px.mu.Lock()
	delete(px.closers, c)
	px.mu.Unlock()
	c.Close()
}

// sockaddr is addr as the socket calls take it.
func sockaddr(addr netip.AddrPort) *unix.SockaddrInet4 {
	return &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
}

// socket is socket(2), non-blocking and close-on-exec, as a file that Go's
// poller waits on.
func socket(typ int, name string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// control runs f on f's fd.
func control(f *os.File, do func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var derr error
	if err := rc.Control(func(fd uintptr) { derr = do(int(fd)) }); err != nil {
		return err
	}
	return derr
}

// listen binds host and serves it. SO_REUSEADDR, as every server sets it,
// lets a port whose last connections linger in TIME_WAIT be bound; one
// that a socket listens on is refused all the same.
func (px *proxy) listen(proto string, host, to netip.AddrPort) error {
	typ := unix.SOCK_STREAM
	if proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	l, err := socket(typ, proto+" "+host.String())
	if err != nil {
		return err
	}
	err = control(l, func(fd int) error {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
		}
		if err := unix.Bind(fd, sockaddr(host)); err != nil {
			return fmt.Errorf("bind %s: %w", host, err)
		}
		if typ == unix.SOCK_STREAM {
			if err := unix.Listen(fd, 128); err != nil {
				return fmt.Errorf("listen %s: %w", host, err)
			}
		}
		return nil
	})
	if err != nil {
		l.Close()
		return err
	}
	if !px.keep(l) {
		return nil
	}
	if typ == unix.SOCK_DGRAM {
		go px.serveUDP(l, to)
	} else {
		go px.serveTCP(l, to)
	}
	return nil
}

// serveTCP accepts connections (accept4(2), when the poller says one is
// there) until unpublish closes the socket, and copies each.
func (px *proxy) serveTCP(l *os.File, to netip.AddrPort) {
	rc, err := l.SyscallConn()
	if err != nil {
		return
	}
	for {
		var nfd int
		var aerr error
		err := rc.Read(func(fd uintptr) bool {
			nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			return aerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if aerr == nil {
			go px.copyTCP(os.NewFile(uintptr(nfd), "connection"), to)
		}
	}
}

// dial connects a new socket to the container (connect(2): in progress,
// then writable once done, with SO_ERROR saying how it went).
func dial(to netip.AddrPort) (*os.File, error) {
	d, err := socket(unix.SOCK_STREAM, "to "+to.String())
	if err != nil {
		return nil, err
	}
	err = control(d, func(fd int) error { return unix.Connect(fd, sockaddr(to)) })
	if errors.Is(err, unix.EINPROGRESS) {
		rc, _ := d.SyscallConn()
		_ = d.SetWriteDeadline(time.Now().Add(5 * time.Second))
		var soerr int
		if err = rc.Write(func(fd uintptr) bool {
			soerr, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
			return true
		}); err == nil && soerr != 0 {
			err = unix.Errno(soerr)
		}
		_ = d.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("connect %s: %w", to, err)
	}
	return d, nil
}

func (px *proxy) copyTCP(c *os.File, to netip.AddrPort) {
	d, err := dial(to)
	if err != nil || !px.keep(c) || !px.keep(d) {
		c.Close()
		if d != nil {
			d.Close()
		}
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(d, c)
		// The client's EOF, passed on: shutdown(2) of the sending side.
		_ = control(d, func(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) })
		close(done)
	}()
	_, _ = io.Copy(c, d)
	_ = control(c, func(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) })
	<-done
	px.close(c)
	px.close(d)
}

// udpIdle is how long a UDP client's flow lives without a reply.
const udpIdle = 60 * time.Second

// serveUDP relays datagrams: each client gets a socket of its own towards
// the container, so the replies find their way back to it.
func (px *proxy) serveUDP(l *os.File, to netip.AddrPort) {
	rc, err := l.SyscallConn()
	if err != nil {
		return
	}
	var mu sync.Mutex
	flows := map[netip.AddrPort]*os.File{}
	buf := make([]byte, 65535)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		}); err != nil {
			return // closed
		}
		sa, ok := from.(*unix.SockaddrInet4)
		if rerr != nil || !ok {
			continue
		}
		client := netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
		mu.Lock()
		c, ok := flows[client]
		if !ok {
			if c, err = socket(unix.SOCK_DGRAM, "udp to "+to.String()); err != nil {
				mu.Unlock()
				continue
			}
			if control(c, func(fd int) error { return unix.Connect(fd, sockaddr(to)) }) != nil || !px.keep(c) {
				c.Close()
				mu.Unlock()
				continue
			}
			flows[client] = c
			go func() {
				reply := make([]byte, 65535)
				for {
					_ = c.SetReadDeadline(time.Now().Add(udpIdle))
					n, err := c.Read(reply)
					if err != nil {
						break
					}
					_ = rc.Write(func(fd uintptr) bool {
						return unix.Sendto(int(fd), reply[:n], 0, sockaddr(client)) != unix.EAGAIN
					})
				}
				mu.Lock()
				delete(flows, client)
				mu.Unlock()
				px.close(c)
			}()
		}
		mu.Unlock()
		_, _ = c.Write(buf[:n])
	}
}
