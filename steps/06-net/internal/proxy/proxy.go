// Package proxy is the userland proxy of step 6's published ports (-p),
// what docker-proxy does: it listens on a host port and copies each
// connection, or each UDP flow, to the container's address. Machinery, not
// the lesson: steps/06-net/ports.go says why mini publishes ports this way.
//
// The sockets are made with the system calls themselves (socket, bind,
// listen, accept4, connect), non-blocking, and handed to Go's poller as
// files: the net package's dialer and resolver, which mini needs nowhere
// else, would make every mini start slower (docs/performance.md).
package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Proxy is the listening side of one container's published ports.
type Proxy struct {
	mu      sync.Mutex
	closers map[io.Closer]bool // listening sockets and connections
	done    bool
}

// New is a proxy that listens nowhere yet.
func New() *Proxy { return &Proxy{closers: map[io.Closer]bool{}} }

// Close closes the listening sockets and the connections.
func (px *Proxy) Close() {
	px.mu.Lock()
	px.done = true
	closers := px.closers
	px.closers = nil
	px.mu.Unlock()
	for c := range closers {
		c.Close()
	}
}

// keep registers c to be closed by Close; if it ran already, c is
// closed now and keep says false.
func (px *Proxy) keep(c io.Closer) bool {
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
func (px *Proxy) close(c io.Closer) {
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

// Listen binds host and copies what comes to to. SO_REUSEADDR, as every server sets it,
// lets a port whose last connections linger in TIME_WAIT be bound; one
// that a socket listens on is refused all the same.
func (px *Proxy) Listen(proto string, host, to netip.AddrPort) error {
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
// there) until Close closes the socket, and copies each.
func (px *Proxy) serveTCP(l *os.File, to netip.AddrPort) {
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

func (px *Proxy) copyTCP(c *os.File, to netip.AddrPort) {
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
func (px *Proxy) serveUDP(l *os.File, to netip.AddrPort) {
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
