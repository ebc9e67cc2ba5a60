package network

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"mini/steps"
)

// The way out. A container's packets to anywhere beyond the bridge leave
// through the host's own links, so the host must forward them, and change
// their source to its own address (masquerade, a kind of NAT): the world
// has no route back to the bridge's private subnet. The replies come back
// to the host's address, and the kernel's connection tracking turns them
// back into replies to the container. This is what docker does for
// docker0, with the same rules. They are iptables rules, run as the
// iptables command a learner would type (the rules are the lesson; no
// library hides them), each tagged "mini:BRIDGE" so that
//
//	iptables-save | grep mini
//
// lists them. They are added when mini sets the bridge up, and stay as
// long as the bridge does, as docker's stay with docker0.

// ipForward is the switch that makes the host a router (ip(7),
// ip-sysctl.rst): off, it drops every packet not addressed to itself.
var ipForward = "/proc/sys/net/ipv4/ip_forward"

// egressRules are the rules for a bridge's subnet: iptables arguments
// after -t TABLE and -A/-I/-C CHAIN.
func egressRules(bridge string, subnet netip.Prefix) []rule {
	tag := []string{"-m", "comment", "--comment", "mini:" + bridge}
	return []rule{
		// Packets from the subnet that leave by another link than the
		// bridge get the address of the link they leave by as source.
		{"nat", "POSTROUTING", false, append([]string{"-s", subnet.String(), "!", "-o", bridge, "-j", "MASQUERADE"}, tag...)},
		// The host forwards what comes from the bridge, and what comes back
		// to it on a connection a container opened. Inserted first, as
		// docker's, so that a FORWARD policy of DROP (docker's, ufw's, or
		// the one set below) does not drop them.
		{"filter", "FORWARD", true, append([]string{"-i", bridge, "-j", "ACCEPT"}, tag...)},
		{"filter", "FORWARD", true, append([]string{"-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"}, tag...)},
	}
}

// rule is one iptables rule.
type rule struct {
	table, chain string
	insert       bool // -I: first in the chain; else -A: last
	args         []string
}

// enableEgress turns forwarding on and adds the bridge's rules that are
// missing. Where mini itself turns forwarding on, it sets the FORWARD
// chain's policy to DROP, as docker does: the host then forwards what the
// rules accept, and does not become a router for its other links too.
func enableEgress(ctx *steps.Context, bridge string, subnet netip.Prefix) error {
	iptables, err := exec.LookPath("iptables")
	if err != nil {
		ctx.Notef("no iptables: containers on %s reach the host and each other, not beyond (install iptables)", bridge)
		return nil
	}
	on, err := os.ReadFile(ipForward)
	if err != nil {
		return fmt.Errorf("read %s: %w", ipForward, err)
	}
	if strings.TrimSpace(string(on)) != "1" {
		ctx.Tracef("sysctl -w net.ipv4.ip_forward=1")
		if err := os.WriteFile(ipForward, []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("sysctl -w net.ipv4.ip_forward=1: %w", err)
		}
		if err := run(ctx, iptables, "-t", "filter", "-P", "FORWARD", "DROP"); err != nil {
			return err
		}
	}
	for _, r := range egressRules(bridge, subnet) {
		if err := ensure(ctx, iptables, r); err != nil {
			return err
		}
	}
	return nil
}

// ensure adds r unless iptables -C finds it there already.
func ensure(ctx *steps.Context, iptables string, r rule) error {
	check := append([]string{"-w", "-t", r.table, "-C", r.chain}, r.args...)
	if exec.Command(iptables, check...).Run() == nil {
		return nil
	}
	op := "-A"
	if r.insert {
		op = "-I"
	}
	return run(ctx, iptables, append([]string{"-t", r.table, op, r.chain}, r.args...)...)
}

// run runs iptables with args (and -w: wait for the xtables lock another
// iptables may hold), tracing it as a shell would show it.
func run(ctx *steps.Context, iptables string, args ...string) error {
	ctx.Tracef("iptables %s", strings.Join(quote(args), " "))
	var stderr bytes.Buffer
	cmd := exec.Command(iptables, append([]string{"-w"}, args...)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("iptables %s: %s", strings.Join(quote(args), " "), firstLine(msg))
	}
	return nil
}

// quote quotes the arguments that need it, as a shell would show them.
func quote(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
