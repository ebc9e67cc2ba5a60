package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"mini/mini/oci"
	cgroups "mini/steps/07-cgroups"
)

// stateMain prints the container's state as JSON (runtime.md, "State").
func stateMain(g *runtimeFlags, args []string) error {
	fs := ociFlags("state", "state ID")
	if err := parseOCI(fs, args, 1, false, "state ID"); err != nil {
		return err
	}
	s, err := g.find(fs.Arg(0))
	if err != nil {
		return err
	}
	return printJSON(oci.StateOf(s))
}

func printJSON(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s\n", data)
	return err
}

const ociKillUsage = "kill [--all] ID [SIGNAL]"

// ociKillMain sends a signal, SIGTERM by default, to the container's init
// (--all: to each of its processes), as runc kill does.
func ociKillMain(g *runtimeFlags, args []string) error {
	fs := ociFlags("kill", ociKillUsage)
	all := fs.BoolP("all", "a", false, "send the signal to every process of the container")
	if err := parseOCI(fs, args, 1, true, ociKillUsage); err != nil {
		return err
	}
	if fs.NArg() > 2 {
		return fmt.Errorf("kill: too many arguments: mini %s", ociKillUsage)
	}
	sig := unix.SIGTERM
	if fs.NArg() == 2 {
		var err error
		if sig, err = parseSignal(fs.Arg(1)); err != nil {
			return err
		}
	}
	s, err := g.find(fs.Arg(0))
	if err != nil {
		return err
	}
	return oci.Kill(s, sig, *all)
}

const deleteUsage = "delete [--force] ID"

// deleteMain deletes a stopped container (--force: any, killed first).
func deleteMain(g *runtimeFlags, args []string) error {
	fs := ociFlags("delete", deleteUsage)
	force := fs.BoolP("force", "f", false, "kill the container first if it is not stopped")
	if err := parseOCI(fs, args, 1, false, deleteUsage); err != nil {
		return err
	}
	s, err := g.find(fs.Arg(0))
	if errors.Is(err, oci.ErrNotExist) && *force {
		return nil // runc's: nothing to delete is no failure with --force
	}
	if err != nil {
		return err
	}
	return oci.Delete(s, *force, recipe, g.logWriter())
}

const ociPsUsage = "ps [--format table|json] ID"

// ociPsMain lists the processes of the container: their host pids as JSON
// (containerd asks for that), or ps -ef's columns.
func ociPsMain(g *runtimeFlags, args []string) error {
	fs := ociFlags("ps", ociPsUsage)
	format := fs.StringP("format", "f", "table", "table or json")
	if err := parseOCI(fs, args, 1, false, ociPsUsage); err != nil {
		return err
	}
	s, err := g.find(fs.Arg(0))
	if err != nil {
		return err
	}
	pids, err := cgroups.Procs(s.Spec)
	if errors.Is(err, cgroups.ErrNoCgroup) {
		pids, err = []int{}, nil
	}
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		if pids == nil {
			pids = []int{}
		}
		data, _ := json.Marshal(pids)
		fmt.Printf("%s\n", data)
	case "table":
		writeTop(pids)
	default:
		return fmt.Errorf("--format %q: want table or json", *format)
	}
	return nil
}

// pauseMain freezes (pause) or thaws (resume) the container.
func pauseMain(g *runtimeFlags, cmd string, args []string) error {
	fs := ociFlags(cmd, cmd+" ID")
	if err := parseOCI(fs, args, 1, false, cmd+" ID"); err != nil {
		return err
	}
	s, err := g.find(fs.Arg(0))
	if err != nil {
		return err
	}
	if cmd == "pause" {
		return oci.Pause(s)
	}
	return oci.Resume(s)
}

const specUsage = "spec [--bundle DIR]"

// specMain writes a config.json to start from: busybox's sh in ./rootfs,
// what mini runs whole.
func specMain(g *runtimeFlags, args []string) error {
	fs := ociFlags("spec", specUsage)
	bundle := fs.StringP("bundle", "b", ".", "the bundle to write config.json in")
	fs.Bool("rootless", false, "accepted: mini's default config is for root")
	if err := parseOCI(fs, args, 0, false, specUsage); err != nil {
		return err
	}
	path := filepath.Join(*bundle, "config.json")
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: remove it, or use another --bundle", path)
	}
	data, err := json.MarshalIndent(oci.DefaultSpec(), "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// featuresMain prints what mini supports of the spec, as runc features
// does (features-linux.md).
func featuresMain(g *runtimeFlags, args []string) error {
	fs := ociFlags("features", "features")
	if err := parseOCI(fs, args, 0, false, "features"); err != nil {
		return err
	}
	return printJSON(oci.Features())
}
