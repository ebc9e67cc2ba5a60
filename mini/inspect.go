package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"mini/mini/container"
)

const inspectUsage = "inspect [-f FORMAT] CONTAINER..."

// inspected is a container as docker inspect shows one: the same names
// and shapes for what mini has, and Mini for what is mini's own.
type inspected struct {
	ID              string           `json:"Id"`
	Created         string           `json:"Created"`
	Path            string           `json:"Path"`
	Args            []string         `json:"Args"`
	State           inspectedState   `json:"State"`
	Image           string           `json:"Image"`
	Name            string           `json:"Name"`
	LogPath         string           `json:"LogPath"`
	HostConfig      inspectedHost    `json:"HostConfig"`
	Config          inspectedConfig  `json:"Config"`
	NetworkSettings inspectedNetwork `json:"NetworkSettings"`
	Mini            inspectedMini    `json:"Mini"`
}

type inspectedState struct {
	Status     string `json:"Status"`
	Running    bool   `json:"Running"`
	Paused     bool   `json:"Paused"`
	Restarting bool   `json:"Restarting"`
	OOMKilled  bool   `json:"OOMKilled"`
	Dead       bool   `json:"Dead"`
	Pid        int    `json:"Pid"`
	ExitCode   int    `json:"ExitCode"`
	Error      string `json:"Error"`
	StartedAt  string `json:"StartedAt"`
	FinishedAt string `json:"FinishedAt"`
}

type inspectedHost struct {
	NetworkMode string `json:"NetworkMode"`
	Memory      int64  `json:"Memory"`
	NanoCpus    int64  `json:"NanoCpus"`
	PidsLimit   int64  `json:"PidsLimit"`
	AutoRemove  bool   `json:"AutoRemove"`
}

type inspectedConfig struct {
	Hostname   string   `json:"Hostname"`
	Tty        bool     `json:"Tty"`
	Env        []string `json:"Env"`
	Cmd        []string `json:"Cmd"`
	Image      string   `json:"Image"`
	WorkingDir string   `json:"WorkingDir"`
}

type inspectedNetwork struct {
	Ports       map[string][]inspectedBinding `json:"Ports"`
	IPAddress   string                        `json:"IPAddress"`
	IPPrefixLen int                           `json:"IPPrefixLen"`
	Gateway     string                        `json:"Gateway"`
	Bridge      string                        `json:"Bridge"`
}

// inspectedBinding is where a published port is on the host.
type inspectedBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// inspectedMini is what docker has no field for.
type inspectedMini struct {
	Step      int    `json:"Step"`
	Rootless  bool   `json:"Rootless"`
	Detached  bool   `json:"Detached"`
	HolderPid int    `json:"HolderPid"` // the monitor (-d) or mini run
	Dir       string `json:"Dir"`       // <root>/containers/<id>
}

// inspectMain prints containers as a JSON array, docker inspect's shape;
// with -f, a format applied to each, as docker's --format (format.go).
func inspectMain(args []string) int {
	fs, root := commandFlags("inspect", inspectUsage)
	format := fs.StringP("format", "f", "", "a format such as '{{.State.Pid}}' or '{{json .Config}}'")
	if err := parseCommand(fs, args, 1, inspectUsage); err != nil {
		return commandExit(err)
	}
	var tmpl []formatPart
	if *format != "" {
		var err error
		if tmpl, err = parseFormat(*format); err != nil {
			return commandExit(fmt.Errorf("-f %q: %v", *format, err))
		}
	}
	code := 0
	var list []inspected
	for _, ref := range fs.Args() {
		s, err := find(*root, ref)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mini: %v\n", oneLine(err))
			code = 125
			continue
		}
		list = append(list, inspect(s))
	}
	if tmpl != nil {
		for _, c := range list {
			if err := applyFormat(os.Stdout, tmpl, c); err != nil {
				return commandExit(fmt.Errorf("-f: %v", err))
			}
			fmt.Println()
		}
		return code
	}
	if list == nil && code != 0 {
		return code // docker prints "[]" too; mini's errors are one line and nothing else
	}
	if list == nil {
		list = []inspected{}
	}
	if err := encode(os.Stdout, list, "    "); err != nil {
		return commandExit(err)
	}
	return code
}

// encode writes v as JSON, "&", "<" and ">" as they are (docker's API does
// not escape them), indented by indent unless it is empty.
func encode(w io.Writer, v any, indent string) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	return enc.Encode(v)
}

// toJSON is the template function json, as docker's.
func toJSON(v any) (string, error) {
	var b strings.Builder
	err := encode(&b, v, "")
	return strings.TrimSuffix(b.String(), "\n"), err
}

func inspect(s *container.State) inspected {
	spec := s.Spec
	c := inspected{
		ID:      s.ID,
		Created: s.Created.Format(time.RFC3339Nano),
		Args:    []string{},
		State: inspectedState{
			Status:     s.Status,
			Running:    s.Status == container.Running,
			ExitCode:   s.ExitCode,
			Error:      s.Error,
			StartedAt:  s.Started.Format(time.RFC3339Nano),
			FinishedAt: s.Finished.Format(time.RFC3339Nano),
		},
		Image: s.Image,
		Name:  "/" + s.Name,
		HostConfig: inspectedHost{
			NetworkMode: spec.Net,
			Memory:      spec.MemoryLimit,
			PidsLimit:   spec.PidsMax,
			AutoRemove:  spec.Remove,
		},
		Config: inspectedConfig{
			Hostname: spec.Hostname, Tty: spec.Tty, Env: spec.Env, Cmd: s.Args, Image: s.Image, WorkingDir: spec.Dir,
		},
		NetworkSettings: inspectedNetwork{Gateway: spec.Gateway, Bridge: spec.Bridge},
		Mini: inspectedMini{
			Step: spec.Step, Rootless: spec.Rootless, Detached: s.Detached, HolderPid: s.Holder.PID,
			Dir: container.Dir(spec.Root, s.ID),
		},
	}
	if len(s.Args) > 0 {
		c.Path, c.Args = s.Args[0], s.Args[1:]
	}
	if c.State.Running {
		c.State.Pid = s.Init.PID
	}
	if s.Detached {
		c.LogPath = container.LogPath(spec.Root, s.ID)
	}
	if spec.CPUPeriod > 0 {
		c.HostConfig.NanoCpus = spec.CPUQuota * 1e9 / spec.CPUPeriod
	}
	c.NetworkSettings.Ports = map[string][]inspectedBinding{}
	for _, p := range spec.Ports {
		key := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		c.NetworkSettings.Ports[key] = append(c.NetworkSettings.Ports[key], inspectedBinding{p.HostIP, fmt.Sprint(p.HostPort)})
	}
	if ip, bits, ok := splitPrefix(spec.IP); ok {
		c.NetworkSettings.IPAddress, c.NetworkSettings.IPPrefixLen = ip, bits
	}
	return c
}

// splitPrefix splits "10.89.0.2/24" into its address and its length.
func splitPrefix(cidr string) (string, int, bool) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", 0, false
	}
	return p.Addr().String(), p.Bits(), true
}
