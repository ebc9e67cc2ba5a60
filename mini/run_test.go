package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRunDefaults(t *testing.T) {
	t.Setenv("MINI_ROOT", "")
	spec, err := parseRun([]string{"../rootfs", "echo", "-n", "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Step != maxStep() {
		t.Errorf("default step = %d, want the highest, %d", spec.Step, maxStep())
	}
	if len(spec.ID) != 12 || spec.Hostname != spec.ID || spec.Name != spec.ID {
		t.Errorf("id %q, hostname %q, name %q: want a 12-digit id used for both", spec.ID, spec.Hostname, spec.Name)
	}
	// Flags after IMAGE belong to the command.
	if diff := cmp.Diff([]string{"echo", "-n", "hi"}, spec.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if spec.Root != "/run/mini" || spec.Dir != "/" {
		t.Errorf("root %q dir %q, want /run/mini and /", spec.Root, spec.Dir)
	}
}

func TestParseRunEnv(t *testing.T) {
	t.Setenv("FROM_HOST", "yes")
	spec, err := parseRun([]string{"--step", "1", "--hostname", "box", "-e", "A=1", "-e", "A=2",
		"-e", "FROM_HOST", "-e", "NOT_ON_HOST", "-e", "PATH=/bin", "../rootfs", "true"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/bin", "HOSTNAME=box", "A=2", "FROM_HOST=yes"}
	if diff := cmp.Diff(want, spec.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestParseRunErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--step", "-1", "../rootfs"}, `--step "-1": want a number from 0 to`},
		{[]string{"--step", "x", "../rootfs"}, `--step "x": want a number`},
		{[]string{"--step", "0", "--hostname", "h", "../rootfs"}, "--hostname needs step 1 (uts), but --step is 0"},
		{[]string{"--step", "2", "-v", "/a:/b", "../rootfs"}, "--volume needs step 3 (mount)"},
		{[]string{"--step", "8", "--cap-add", "NET_ADMIN", "../rootfs"}, "--cap-add needs step 9 (security), but --step is 8"},
		{[]string{"--step", "8", "--privileged", "../rootfs"}, "--privileged needs step 9 (security)"},
		{[]string{"--user", "a:b:c", "../rootfs", "true"}, `--user "a:b:c": want USER[:GROUP]`},
		{[]string{}, "missing IMAGE"},
		{[]string{"/no/such/dir"}, "no such directory"},
		{[]string{"run_test.go"}, "not a directory"},
		{[]string{"-w", "rel", "../rootfs", "true"}, "absolute path"},
		{[]string{"-e", "=v", "../rootfs", "true"}, "non-empty KEY"},
		{[]string{"--nope", "../rootfs"}, "unknown flag: --nope"},
		{[]string{"--name", "bad name", "../rootfs", "true"}, `--name "bad name": use 2 to 128 letters`},
		{[]string{"--name", "-x", "../rootfs", "true"}, `--name "-x"`},
		{[]string{"--name", "x", "../rootfs", "true"}, `--name "x"`},
	} {
		_, err := parseRun(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseRun(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("parseRun(%q): error has more than one line: %q", tc.args, err)
		}
	}
}
