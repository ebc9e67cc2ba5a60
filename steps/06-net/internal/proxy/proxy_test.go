package proxy

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestProxy relays TCP and UDP between sockets on this host's loopback, as
// step 6 does between the host and a container.
func TestProxy(t *testing.T) {
	px := New()
	defer px.Close()

	// TCP: a server that says hello and echoes one line.
	srv, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 100)
			n, _ := c.Read(buf)
			c.Write(append([]byte("hello "), buf[:n]...))
			c.Close()
		}
	}()
	front := freeAddr(t, "tcp4")
	if err := px.Listen("tcp", netip.MustParseAddrPort(front), netip.MustParseAddrPort(srv.Addr().String())); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", front)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("tcp"))
	c.(*net.TCPConn).CloseWrite()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	c.Close()
	if string(got) != "hello tcp" || err != nil {
		t.Errorf("TCP through the proxy: %q, %v", got, err)
	}

	// UDP: a server that answers each datagram.
	usrv, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer usrv.Close()
	go func() {
		buf := make([]byte, 100)
		for {
			n, from, err := usrv.ReadFrom(buf)
			if err != nil {
				return
			}
			usrv.WriteTo([]byte("re: "+strings.TrimSpace(string(buf[:n]))), from)
		}
	}()
	ufront := freeAddr(t, "udp4")
	if err := px.Listen("udp", netip.MustParseAddrPort(ufront), netip.MustParseAddrPort(usrv.LocalAddr().String())); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"one", "two"} {
		u, err := net.Dial("udp4", ufront)
		if err != nil {
			t.Fatal(err)
		}
		u.SetDeadline(time.Now().Add(5 * time.Second))
		u.Write([]byte(msg))
		buf := make([]byte, 100)
		n, err := u.Read(buf)
		u.Close()
		if string(buf[:n]) != "re: "+msg || err != nil {
			t.Errorf("UDP through the proxy: %q, %v", buf[:n], err)
		}
	}

	// A port in use: bind says so.
	if err := px.Listen("tcp", netip.MustParseAddrPort(front), netip.MustParseAddrPort(srv.Addr().String())); err == nil {
		t.Error("a second listener on the same port: no error")
	}
}

// freeAddr is a loopback address with a port nothing uses now.
func freeAddr(t *testing.T, network string) string {
	if network == "udp4" {
		c, err := net.ListenPacket(network, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen(network, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
