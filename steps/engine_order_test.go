package steps

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The engine's contract, checked without root: fake steps record every
// hook they are called for, host side and child side, in one log file; a
// run that fails at each phase in turn must call the hooks in the order
// step.go draws, and clean up, in reverse, exactly the steps it prepared.
//
// The child is this test binary again ("init", see TestMain): it runs
// steps.Init with the same fake steps, with no namespaces (the fakes
// return no clone flags), so no root is needed.

// The fakes read what to do from the command's environment, which the
// spec carries to the child: where to log, and which hook of which step
// fails ("prepare:2").
const (
	logVar  = "ORDER_LOG"
	failVar = "ORDER_FAIL"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		os.Exit(Init(func(spec *Spec) []Step { return fakes(spec, 3) }))
	}
	os.Exit(m.Run())
}

// fake is a step with every hook, which logs each call.
type fake struct {
	n        int
	log      string
	fail     string // "hook:n": that hook of step n fails
	badStart bool   // its Prepare passes the child an fd that is not open: clone fails
}

func fakes(spec *Spec, n int) []Step {
	var out []Step
	for i := 1; i <= n; i++ {
		f := &fake{n: i}
		for _, kv := range spec.Env {
			if v, ok := strings.CutPrefix(kv, logVar+"="); ok {
				f.log = v
			}
			if v, ok := strings.CutPrefix(kv, failVar+"="); ok {
				f.fail = v
			}
		}
		f.badStart = f.fail == fmt.Sprintf("start:%d", i)
		out = append(out, f)
	}
	return out
}

func (f *fake) Number() int  { return f.n }
func (f *fake) Name() string { return fmt.Sprintf("fake%d", f.n) }

// hook logs "side hook n" and fails if told to.
func (f *fake) hook(ctx *Context, name string) error {
	line := fmt.Sprintf("%s %s %d", ctx.Side(), name, f.n)
	if name == "cleanup" && ctx.Started {
		line += " started"
	}
	out, err := os.OpenFile(f.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := io.WriteString(out, line+"\n"); err != nil {
		return err
	}
	if f.fail == fmt.Sprintf("%s:%d", name, f.n) {
		return errors.New(name + " fails")
	}
	return nil
}

func (f *fake) Validate(ctx *Context) error        { return f.hook(ctx, "validate") }
func (f *fake) CloneFlags(ctx *Context) uintptr    { _ = f.hook(ctx, "cloneflags"); return 0 }
func (f *fake) Attach(ctx *Context, pid int) error { return f.hook(ctx, "attach") }
func (f *fake) Init(ctx *Context) error            { return f.hook(ctx, "init") }
func (f *fake) PreUser(ctx *Context) error         { return f.hook(ctx, "preuser") }
func (f *fake) PreExec(ctx *Context) error         { return f.hook(ctx, "preexec") }
func (f *fake) Started(ctx *Context) error         { return f.hook(ctx, "started") }
func (f *fake) Cleanup(ctx *Context) error         { return f.hook(ctx, "cleanup") }
func (f *fake) Prepare(ctx *Context) error {
	if f.badStart {
		ctx.PassFile(os.NewFile(9999, "not open"))
	}
	return f.hook(ctx, "prepare")
}

// each is "side hook n" for n = 1..3, or 3..1 with rev.
func each(side, hook string, rev bool) []string {
	var out []string
	for i := 1; i <= 3; i++ {
		n := i
		if rev {
			n = 4 - i
		}
		out = append(out, fmt.Sprintf("%s %s %d", side, hook, n))
	}
	return out
}

func seq(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			out = append(out, p)
		case []string:
			out = append(out, p...)
		}
	}
	return out
}

// TestHookOrder runs the fake container once to the end, and once failing
// at each phase: the hooks run in order, a failure stops the run there,
// and Cleanup runs in reverse for exactly the steps whose Prepare was
// called, however far the run got.
func TestHookOrder(t *testing.T) {
	var (
		validate = each("host", "validate", false)
		prepare  = each("host", "prepare", false)
		clone    = each("host", "cloneflags", false)
		attach   = each("host", "attach", false)
		initc    = each("child", "init", false)
		preuser  = each("child", "preuser", false)
		preexec  = each("child", "preexec", false)
		started  = each("host", "started", false)
		cleanup  = each("host", "cleanup", true)
	)
	startedCleanup := []string{"host cleanup 3 started", "host cleanup 2 started", "host cleanup 1 started"}
	for _, tc := range []struct {
		fail string
		args []string
		code int
		want []string
	}{
		{"", []string{"true"}, 0, seq(validate, prepare, clone, attach, initc, preuser, preexec, started, startedCleanup)},
		{"validate:2", []string{"true"}, 125, seq("host validate 1", "host validate 2")},
		{"prepare:2", []string{"true"}, 125, seq(validate, "host prepare 1", "host prepare 2", "host cleanup 2", "host cleanup 1")},
		{"start:3", []string{"true"}, 125, seq(validate, prepare, clone, cleanup)},
		{"attach:2", []string{"true"}, 125, seq(validate, prepare, clone, "host attach 1", "host attach 2", cleanup)},
		{"init:2", []string{"true"}, 125, seq(validate, prepare, clone, attach, "child init 1", "child init 2", cleanup)},
		{"preuser:1", []string{"true"}, 125, seq(validate, prepare, clone, attach, initc, "child preuser 1", cleanup)},
		{"preexec:3", []string{"true"}, 125, seq(validate, prepare, clone, attach, initc, preuser, preexec, cleanup)},
		// A command that is not there: it is looked up before PreExec (127).
		{"", []string{"/nonexistent/command"}, 127, seq(validate, prepare, clone, attach, initc, preuser, cleanup)},
		// A Started hook that fails is reported; the container goes on.
		{"started:2", []string{"true"}, 0, seq(validate, prepare, clone, attach, initc, preuser, preexec, started, startedCleanup)},
	} {
		name := tc.fail
		if name == "" {
			name = "ok:" + tc.args[0]
		}
		t.Run(name, func(t *testing.T) {
			spec, log := orderSpec(t, tc.fail, tc.args)
			code, err := Run(spec, fakes(spec, 3), "mini", io.Discard)
			if code != tc.code {
				t.Errorf("exit code %d (%v), want %d", code, err, tc.code)
			}
			if (err == nil) != (tc.code == 0) {
				t.Errorf("error %v with code %d", err, code)
			}
			checkLog(t, log, tc.want)
		})
	}
}

// TestPhaseWaitStart is the create/start split: with WaitStart, Release
// returns once every Init hook has run and the child waits before its
// command; the command's hooks (PreUser, PreExec, Started) run only at
// Exec. A container never started is cleaned up whole.
func TestPhaseWaitStart(t *testing.T) {
	spec, log := orderSpec(t, "", []string{"true"})
	spec.WaitStart = true
	e := NewEngine(spec, fakes(spec, 3), "mini", io.Discard)
	for _, phase := range []func() error{e.Validate, e.Prepare, e.Start, e.Attach} {
		if err := phase(); err != nil {
			t.Fatal(err)
		}
	}
	if code, err := e.Release(); err != nil {
		t.Fatalf("Release: %d %v", code, err)
	}
	created := seq(each("host", "validate", false), each("host", "prepare", false), each("host", "cloneflags", false),
		each("host", "attach", false), each("child", "init", false))
	checkLog(t, log, created)
	if code, err := e.Exec(); err != nil {
		t.Fatalf("Exec: %d %v", code, err)
	}
	if code := e.Wait(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if err := e.Cleanup(); err != nil {
		t.Fatal(err)
	}
	checkLog(t, log, seq(created, each("child", "preuser", false), each("child", "preexec", false),
		each("host", "started", false), "host cleanup 3 started", "host cleanup 2 started", "host cleanup 1 started"))

	// Created, then given up (mini delete --force): the child is killed
	// at its barrier, its command never runs, and everything is undone.
	spec, log = orderSpec(t, "", []string{"true"})
	spec.WaitStart = true
	e = NewEngine(spec, fakes(spec, 3), "mini", io.Discard)
	for _, phase := range []func() error{e.Validate, e.Prepare, e.Start, e.Attach} {
		if err := phase(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Release(); err != nil {
		t.Fatal(err)
	}
	if err := e.Cleanup(); err != nil {
		t.Fatal(err)
	}
	checkLog(t, log, seq(created, each("host", "cleanup", true)))
}

// orderSpec is the spec of a fake container, and its log file.
func orderSpec(t *testing.T, fail string, args []string) (*Spec, string) {
	log := filepath.Join(t.TempDir(), "hooks.log")
	return &Spec{
		ID: "0123456789ab", Root: t.TempDir(), Args: args,
		Env: []string{"PATH=/usr/bin:/bin", logVar + "=" + log, failVar + "=" + fail},
	}, log
}

func checkLog(t *testing.T, log string, want []string) {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	got := strings.Fields(strings.ReplaceAll(string(data), " ", "_"))
	for i := range got {
		got[i] = strings.ReplaceAll(got[i], "_", " ")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hooks called:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
