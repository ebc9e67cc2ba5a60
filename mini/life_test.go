package main

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		500 * time.Millisecond: "Less than a second", time.Second: "1 second", 42 * time.Second: "42 seconds",
		90 * time.Second: "About a minute", 5 * time.Minute: "5 minutes", 70 * time.Minute: "About an hour",
		3 * time.Hour: "3 hours", 72 * time.Hour: "3 days", 21 * 24 * time.Hour: "3 weeks", 100 * 24 * time.Hour: "3 months",
		800 * 24 * time.Hour: "2 years",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestEllipsis(t *testing.T) {
	if got := ellipsis("sh -c echo hello; exec sleep 1000", 20); got != "sh -c echo hello; e…" {
		t.Errorf("ellipsis: %q", got)
	}
	if got := ellipsis("sleep 1000", 20); got != "sleep 1000" {
		t.Errorf("ellipsis: %q", got)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"KILL": unix.SIGKILL, "sigterm": unix.SIGTERM, "SIGHUP": unix.SIGHUP, "10": unix.SIGUSR1} {
		if got, err := parseSignal(in); err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"NOPE", "0", "99", ""} {
		if _, err := parseSignal(in); err == nil {
			t.Errorf("parseSignal(%q): no error", in)
		}
	}
}

func TestFormat(t *testing.T) {
	v := inspected{ID: "abc", State: inspectedState{Pid: 42, Status: "running"}, Config: inspectedConfig{Cmd: []string{"sh", "-c", "a && b"}},
		NetworkSettings: inspectedNetwork{Ports: map[string][]inspectedBinding{"80/tcp": {{"0.0.0.0", "8080"}}}}}
	for format, want := range map[string]string{
		"{{.State.Pid}}":                    "42",
		"id={{.ID}} {{ .State.Status }}":    "id=abc running",
		"{{json .Config.Cmd}}":              `["sh","-c","a && b"]`,
		"{{json .NetworkSettings.Ports}}":   `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}`,
		"{{.NetworkSettings.Ports.80/tcp}}": "[{0.0.0.0 8080}]",
	} {
		parts, err := parseFormat(format)
		var b strings.Builder
		if err == nil {
			err = applyFormat(&b, parts, v)
		}
		if err != nil || b.String() != want {
			t.Errorf("format %q = %q, %v; want %q", format, b.String(), err, want)
		}
	}
	for _, format := range []string{"{{.State.Pid", "{{index .X 1}}", "{{.Nope}}"} {
		parts, err := parseFormat(format)
		if err == nil {
			err = applyFormat(&strings.Builder{}, parts, v)
		}
		if err == nil {
			t.Errorf("format %q: no error", format)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"100": 100, "100k": 100000, "10m": 10000000, "1g": 1000000000} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "m", "-1", "1.5m", "10x"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): no error", in)
		}
	}
}
