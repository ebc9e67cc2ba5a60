package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"mini/steps"
)

// Hooks are programs the caller asks mini to run at points of the
// container's life (config.md, "POSIX-platform Hooks"), each given the
// container's state as JSON on its stdin. Where mini runs them:
//
//	prestart, createRuntime  mini create, on the host, once the container's
//	                         environment is made and it waits for start
//	                         (Holder)
//	createContainer          mini create, in the container's namespaces,
//	                         before pivot_root: its path is the host's
//	                         (Step.MountRootfs)
//	startContainer           mini start, in the container, just before
//	                         the command (Step.PreUser)
//	poststart                mini start, on the host, once the command runs,
//	                         before start returns (Step.Started)
//	poststop                 mini delete, on the host, once the container
//	                         is gone (Delete)
//
// A failing prestart, createRuntime, createContainer or startContainer hook
// fails the container; a failing poststart or poststop hook is a warning.

// The hook lists.
const (
	Prestart        = "prestart"
	CreateRuntime   = "createRuntime"
	CreateContainer = "createContainer"
	StartContainer  = "startContainer"
	Poststart       = "poststart"
	Poststop        = "poststop"
)

// hooksOf returns the hooks of list name in the spec.
func hooksOf(o *steps.OCI, name string) []specs.Hook {
	if o == nil || o.Hooks == nil {
		return nil
	}
	var h specs.Hooks
	if json.Unmarshal(o.Hooks, &h) != nil {
		return nil
	}
	return map[string][]specs.Hook{
		Prestart: h.Prestart, CreateRuntime: h.CreateRuntime, CreateContainer: h.CreateContainer,
		StartContainer: h.StartContainer, Poststart: h.Poststart, Poststop: h.Poststop,
	}[name]
}

// RunHooks runs the hooks of list name, in order, each with the state of
// the container (status) on its stdin. It stops at the first that fails.
func RunHooks(ctx *steps.Context, name string, status specs.ContainerState) error {
	list := hooksOf(ctx.Spec.OCI, name)
	if len(list) == 0 {
		return nil
	}
	state, err := stateJSON(ctx.Spec.OCI, status)
	if err != nil {
		return err
	}
	for _, h := range list {
		if err := runHook(ctx, name, h, state); err != nil {
			return err
		}
	}
	return nil
}

// RunAll runs every hook of list name, even after one fails, and returns
// the failures: poststart's and poststop's are warnings.
func RunAll(ctx *steps.Context, name string, status specs.ContainerState) error {
	state, err := stateJSON(ctx.Spec.OCI, status)
	if err != nil {
		return err
	}
	var failed []error
	for _, h := range hooksOf(ctx.Spec.OCI, name) {
		if err := runHook(ctx, name, h, state); err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// stateJSON is the state the hooks get on stdin (runtime.md, "State").
func stateJSON(o *steps.OCI, status specs.ContainerState) ([]byte, error) {
	return json.Marshal(specs.State{
		Version: specs.Version, ID: o.ID, Status: status, Pid: o.Pid, Bundle: o.Bundle, Annotations: o.Annotations,
	})
}

// runHook runs one hook: fork and execve(2) of its path, argv as the
// config gives it (args[0] included), its env alone, the state on stdin,
// killed after its timeout.
func runHook(ctx *steps.Context, name string, h specs.Hook, state []byte) error {
	c := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		c, cancel = context.WithTimeout(c, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(c, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ctx.Tracef("hook %s: %s %q", name, h.Path, h.Args)
	err := cmd.Run()
	if errors.Is(c.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("hooks.%s: %s: killed after its timeout of %ds", name, h.Path, *h.Timeout)
	}
	if err != nil {
		msg := strings.Join(strings.Fields(out.String()), " ")
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("hooks.%s: %s: %v%s", name, h.Path, err, msg)
	}
	return nil
}
