package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/vishvananda/netlink"
)

// testNets is where the tests' networks come from: a /24 for each scenario
// and each doc, never the default bridge mini0 or the default subnet, so
// they run side by side, and beside other test runs, without meeting.
var testNets = netip.MustParsePrefix("10.231.0.0/16")

// testNet is a bridge name and a /24 that one scenario or doc may use.
type testNet struct {
	bridge  string
	subnet  netip.Prefix
	reserve net.Listener
}

// reserveNet finds a /24 of testNets that no other test holds and the host
// does not route. It is reserved by binding an abstract unix socket named
// for it (unix(7)): the name is taken for as long as the socket is open, by
// one process on the machine, and the kernel frees it when the test exits,
// even if it is killed. Nothing is left in the file system.
func reserveNet() (*testNet, error) {
	for i := 0; i < 256; i++ {
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 231, byte(i), 0}), 24)
		l, err := net.Listen("unix", "@mini-test-net-"+subnet.String())
		if err != nil {
			continue // another scenario, or another test run, has it
		}
		n := &testNet{bridge: fmt.Sprintf("minit%d", i), subnet: subnet, reserve: l}
		// A bridge of that name is one a killed test run left: ours now.
		deleteBridge(n.bridge)
		if routed(subnet) {
			l.Close()
			continue // the host uses these addresses
		}
		return n, nil
	}
	return nil, fmt.Errorf("no free /24 in %s for a test network", testNets)
}

// env makes the network the default of --bridge and --subnet, and gives
// the bridge's address as $GATEWAY.
func (n *testNet) env() []string {
	return []string{
		"MINI_BRIDGE=" + n.bridge,
		"MINI_SUBNET=" + n.subnet.String(),
		"GATEWAY=" + n.subnet.Addr().Next().String(),
	}
}

// release checks that no veth is left on the bridge, deletes the bridge
// (mini keeps it, as docker keeps docker0) and frees the /24. It returns
// the links that were left.
func (n *testNet) release() []string {
	defer n.reserve.Close()
	left := bridgePorts(n.bridge)
	deleteBridge(n.bridge)
	dropRules(n.bridge)
	return left
}

// dropRules deletes the iptables rules mini tagged for bridge (step 6,
// nat.go), one by one with -D: the next scenario to use the name starts
// without them, and other scenarios' rules, added meanwhile, stay.
func dropRules(bridge string) error {
	tag := `"mini:` + bridge + `"`
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("iptables", "-w", "-t", table, "-S").Output()
		if err != nil {
			return fmt.Errorf("iptables -t %s -S: %w", table, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "-A ") || !strings.Contains(line, tag) {
				continue
			}
			// The rule as -S prints it, with -D for -A; the tag's quotes go.
			args := strings.Fields(strings.ReplaceAll(line, tag, "mini:"+bridge))
			args[0] = "-D"
			if out, err := exec.Command("iptables", append([]string{"-w", "-t", table}, args...)...).CombinedOutput(); err != nil {
				return fmt.Errorf("iptables -t %s %s: %v: %s", table, strings.Join(args, " "), err, out)
			}
		}
	}
	return nil
}

// cmdDropRules is the scenario command "droprules": it deletes the rules
// mini tagged for the scenario's bridge.
func cmdDropRules(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: droprules")
	}
	ts.Check(dropRules(ts.Getenv("MINI_BRIDGE")))
}

// setupNet gives a scenario its own network through $MINI_BRIDGE,
// $MINI_SUBNET and $GATEWAY, and checks at its end that nothing was left.
func setupNet(env *testscript.Env, mu *sync.Mutex, leaks *[]string) error {
	n, err := reserveNet()
	if err != nil {
		return err
	}
	for _, kv := range n.env() {
		k, v, _ := strings.Cut(kv, "=")
		env.Setenv(k, v)
	}
	env.Defer(func() {
		if left := n.release(); len(left) > 0 {
			mu.Lock()
			*leaks = append(*leaks, fmt.Sprintf("left on bridge %s: %v", n.bridge, left))
			mu.Unlock()
		}
	})
	return nil
}

// bridgePorts lists the links still attached to the bridge. A container's
// veth goes with its network namespace, which the kernel frees a moment
// after the container exits: give it that moment, at most ten seconds.
func bridgePorts(bridge string) []string {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return nil
	}
	var names []string
	for try := 0; try < 1000; try++ {
		names = names[:0]
		links, err := netlink.LinkList()
		if err != nil {
			return nil
		}
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				names = append(names, l.Attrs().Name)
			}
		}
		if len(names) == 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return names
}

// deleteBridge deletes a test bridge, if it is there and we are root.
func deleteBridge(name string) {
	if l, err := netlink.LinkByName(name); err == nil && l.Type() == "bridge" && os.Geteuid() == 0 {
		_ = netlink.LinkDel(l)
	}
}

// routed is true if a host route other than the default overlaps subnet.
func routed(subnet netip.Prefix) bool {
	routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		if ok && ones > 0 && netip.PrefixFrom(a.Unmap(), ones).Overlaps(subnet) {
			return true
		}
	}
	return false
}

// freeport VAR...: set each VAR to a port of the host that no TCP or UDP
// socket uses now (the kernel picks it: bind to port 0), for -p.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: freeport VAR...")
	}
	for _, v := range args {
		for try := 0; ; try++ {
			l, err := net.Listen("tcp4", "0.0.0.0:0")
			ts.Check(err)
			port := l.Addr().(*net.TCPAddr).Port
			u, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
			l.Close()
			if err == nil {
				u.Close()
				ts.Setenv(v, fmt.Sprint(port))
				break
			}
			if try == 100 {
				ts.Fatalf("freeport: no port free for both TCP and UDP")
			}
		}
	}
}

// dial HOST:PORT: connect over TCP and print what comes back until the
// other side closes, for at most five seconds.
func cmdDial(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: dial HOST:PORT")
	}
	c, err := net.DialTimeout("tcp4", args[0], 5*time.Second)
	var out []byte
	if err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.(*net.TCPConn).CloseWrite()
		out, err = io.ReadAll(c)
		c.Close()
	}
	ts.Stdout().Write(out)
	if err != nil && !neg {
		ts.Fatalf("dial %s: %v", args[0], err)
	}
	if err == nil && neg {
		ts.Fatalf("dial %s: connected", args[0])
	}
}
