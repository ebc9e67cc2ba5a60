package build

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	"mini/mini/image"
)

// The instructions that change only the image's config: ENV, LABEL,
// EXPOSE, USER, CMD, ENTRYPOINT, and WORKDIR's config half. mini commit's
// -c applies the same.

// vars is what words expand from: the image's Env (ENV's), then the ARGs
// in scope. ENV wins over an ARG of the same name, docker's rule.
type vars struct {
	env  []string
	args map[string]string
}

func (v vars) lookup(name string) (string, bool) {
	for i := len(v.env) - 1; i >= 0; i-- {
		if k, val, ok := strings.Cut(v.env[i], "="); ok && k == name {
			return val, true
		}
	}
	val, ok := v.args[name]
	return val, ok
}

func (v vars) lexer(escape byte) lexer { return lexer{lookup: v.lookup, escape: escape} }

// applyConfig applies a config instruction to c, its words expanded by lx,
// and returns what its history entry says ("ENV A=1"). cmdSet says
// whether this Dockerfile has set CMD: ENTRYPOINT drops the base image's
// CMD, not one set here (docker's rule).
func applyConfig(in Instruction, c *image.RunConfig, lx lexer, cmdSet *bool) (string, error) {
	switch in.Cmd {
	case "ENV", "LABEL":
		pairs, err := keyValues(in, lx)
		if err != nil {
			return "", err
		}
		var shown []string
		for _, kv := range pairs {
			if in.Cmd == "ENV" {
				c.Env = setEnv(c.Env, kv[0], kv[1])
			} else {
				if c.Labels == nil {
					c.Labels = map[string]string{}
				}
				c.Labels[kv[0]] = kv[1]
			}
			shown = append(shown, kv[0]+"="+kv[1])
		}
		return in.Cmd + " " + strings.Join(shown, " "), nil
	case "EXPOSE":
		words, err := lx.words(in.Rest)
		if err != nil {
			return "", in.errorf("EXPOSE: %v", err)
		}
		var shown []string
		for _, w := range words {
			ports, err := exposed(w)
			if err != nil {
				return "", in.errorf("EXPOSE %s: %v", w, err)
			}
			if c.ExposedPorts == nil {
				c.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range ports {
				c.ExposedPorts[p] = struct{}{}
				shown = append(shown, p)
			}
		}
		return "EXPOSE " + strings.Join(shown, " "), nil
	case "USER":
		u, err := lx.word(in.Rest)
		if err != nil || u == "" {
			return "", in.errorf("USER %s: want USER[:GROUP]", in.Rest)
		}
		c.User = u
		return "USER " + u, nil
	case "WORKDIR":
		w, err := lx.word(in.Rest)
		if err != nil || w == "" {
			return "", in.errorf("WORKDIR %s: want a directory", in.Rest)
		}
		if !path.IsAbs(w) {
			w = path.Join("/", c.WorkingDir, w)
		}
		c.WorkingDir = path.Clean(w)
		return "WORKDIR " + c.WorkingDir, nil
	case "CMD", "ENTRYPOINT":
		argv := in.Exec
		if !in.IsExec {
			argv = []string{"/bin/sh", "-c", in.Rest}
		}
		if in.Cmd == "CMD" {
			c.Cmd, *cmdSet = argv, true
		} else {
			c.Entrypoint = argv
			if !*cmdSet {
				c.Cmd = nil
			}
		}
		js, _ := json.Marshal(argv)
		return in.Cmd + " " + string(js), nil
	}
	return "", in.errorf("%s does not change the config", in.Cmd)
}

// keyValues reads ENV's and LABEL's KEY=VALUE words, or the old form
// "ENV KEY VALUE WITH SPACES". Every value is expanded with the variables
// from before the instruction: "ENV A=1 B=$A" sets B to the A of before.
func keyValues(in Instruction, lx lexer) ([][2]string, error) {
	first := strings.Fields(in.Rest)[0]
	if !strings.Contains(first, "=") {
		k, err := lx.word(first)
		if err != nil {
			return nil, in.errorf("%s: %v", in.Cmd, err)
		}
		v, err := lx.word(strings.TrimSpace(strings.TrimPrefix(in.Rest, first)))
		if err != nil {
			return nil, in.errorf("%s %s: %v", in.Cmd, k, err)
		}
		return [][2]string{{k, v}}, nil
	}
	words, err := lx.words(in.Rest)
	if err != nil {
		return nil, in.errorf("%s: %v", in.Cmd, err)
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, in.errorf("%s %s: want KEY=VALUE", in.Cmd, w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// setEnv sets k in an environment list, in its place if it is there.
func setEnv(env []string, k, v string) []string {
	out := append([]string{}, env...)
	for i, kv := range out {
		if strings.HasPrefix(kv, k+"=") {
			out[i] = k + "=" + v
			return out
		}
	}
	return append(out, k+"="+v)
}

// exposed reads EXPOSE's PORT[/PROTO] or FIRST-LAST[/PROTO], as the
// config keeps them: "80/tcp".
func exposed(w string) ([]string, error) {
	ports, proto, ok := strings.Cut(w, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("protocol %q: want tcp, udp or sctp", proto)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return nil, fmt.Errorf("want a port from 1 to 65535, or a range of them")
	}
	var out []string
	for p := a; p <= b; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

// ApplyChange applies one of mini commit's -c changes, a Dockerfile line
// (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER or WORKDIR), to c, as docker
// commit --change does. It returns the history entry's text.
func ApplyChange(change string, c *image.RunConfig) (string, error) {
	in := Instruction{File: "-c", Line: 1, Rest: strings.TrimSpace(change), Escape: '\\'}
	if err := in.split(); err != nil {
		return "", fmt.Errorf("-c %q: %v", change, strings.TrimPrefix(err.Error(), "-c:1: "))
	}
	switch in.Cmd {
	case "CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "WORKDIR":
	default:
		return "", fmt.Errorf("-c %q: mini commit applies CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER and WORKDIR, not %s", change, in.Cmd)
	}
	set := true // a CMD given with -c stays whatever the order
	text, err := applyConfig(in, c, vars{env: c.Env}.lexer('\\'), &set)
	if err != nil {
		return "", fmt.Errorf("-c %q: %v", change, strings.TrimPrefix(err.Error(), "-c:1: "))
	}
	return text, nil
}
