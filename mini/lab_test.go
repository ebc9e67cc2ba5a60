package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/steps"
)

// TestLabSkeletons runs each lab's scenarios (step NN's, and those marked
// "# lab-check: NN": checksLab) against the untouched lab skeleton of step
// NN, as make lab-check STEP=NN does, and demands that at least one
// scenario fails and that the skeleton leaves nothing behind: so the checks
// a learner's step must pass can fail. TestScripts proves that mini's own
// steps pass them. A lab the learner has changed (git status says so) is
// not a skeleton: make lab-check judges it, and this test leaves it be.
//
// The scenarios run in a child test process ($MINI_LAB=NN, -test.run
// TestScripts), the same harness, setup and leak checks as TestScripts;
// this test reads its verdicts.
// leaked matches the reports of TestScripts and its commands of what a
// scenario left: a mount, a veth on the bridge, state, a host IPC object.
var leaked = regexp.MustCompile(`left mounted on the host: .*|left on bridge .*|left behind: \[.*|left on the host: .*`)

// labs are the labs by number and name: lab/00-lifecycle, then the steps'.
func labs() []struct {
	n    int
	name string
} {
	out := []struct {
		n    int
		name string
	}{{0, "lifecycle"}}
	for _, s := range labSteps {
		out = append(out, struct {
			n    int
			name string
		}{s.Number(), s.Name()})
	}
	return out
}

func TestLabSkeletons(t *testing.T) {
	image, err := filepath.Abs("../rootfs/busybox")
	if err != nil {
		t.Fatal(err)
	}
	var why string
	if os.Geteuid() != 0 {
		why = "the lab scenarios run containers: run as root"
	} else if _, err := os.Stat(filepath.Join(image, "bin/busybox")); err != nil {
		why = "needs the busybox image: run 'make rootfs'"
	}
	if why != "" {
		if os.Getenv(noSkipVar) == "1" {
			t.Fatalf("%s (%s=1 forbids skipping)", why, noSkipVar)
		}
		t.Skip(why)
	}
	for _, lab := range labs() {
		n, dir := lab.n, fmt.Sprintf("lab/%02d-%s", lab.n, lab.name)
		t.Run(fmt.Sprintf("lab%02d", n), func(t *testing.T) {
			if changed := learnerChanged(t, dir); changed != "" {
				t.Skipf("%s has your changes (%s): sudo make lab-check STEP=%d judges them; this test checks the untouched skeletons", dir, changed, n)
			}
			files, _ := filepath.Glob(fmt.Sprintf("testdata/script/step%02d_*.txt", n))
			if len(files) == 0 {
				t.Fatalf("step %d has a lab but no scenarios testdata/script/step%02d_*.txt", n, n)
			}
			mounts, tree := mountPoints(t), treeListing(t, image)
			// The step's main scenario (step06_net for lab/06-net) first, the
			// others only if it passes: one failure is enough, and some
			// scenarios wait a while for what an unwritten step never does.
			var out []byte
			var failed [][]string
			for _, run := range []string{fmt.Sprintf("/^step%02d_%s$", n, lab.name), ""} {
				out, failed = runScenarios(t, n, run)
				if len(failed) > 0 {
					break
				}
			}
			if len(failed) == 0 {
				t.Fatalf("%s passes every scenario of step %d, yet git says it is the skeleton: the scenarios cannot tell a step that is not written.\n%s", dir, n, out)
			}
			if strings.Contains(string(out), "forbids skipping") {
				t.Fatalf("a scenario could not run:\n%s", out)
			}
			for _, f := range failed {
				t.Logf("skeleton fails %s, as it should", f[1])
			}
			// What the skeleton may not leave: mounts, changes to the image.
			if diff := cmp.Diff(mounts, mountPoints(t)); diff != "" {
				t.Errorf("the skeleton's scenarios changed the host's mount table (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(tree, treeListing(t, image)); diff != "" {
				t.Errorf("the skeleton's scenarios changed the image (-before +after):\n%s", diff)
			}
			// The harness's own reports of what a scenario left.
			if leak := leaked.FindString(string(out)); leak != "" {
				t.Errorf("the skeleton's scenarios left something behind (%q):\n%s", leak, out)
			}
		})
	}
}

// learnerChanged says how the learner changed the lab in dir, from the
// repository's root: the lines of "git status --porcelain" for it, or ""
// for the skeleton as committed. Without git (a copy of the tree, not a
// clone) it is the skeleton.
func learnerChanged(t *testing.T, dir string) string {
	out, err := exec.Command("git", "-C", "..", "status", "--porcelain", "--", dir).Output()
	if err != nil {
		t.Logf("git status %s: %v: taken for the skeleton", dir, err)
		return ""
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// runScenarios runs the scenarios of TestScripts that match run, in a child
// test process, with lab step n in place of mini's, and returns its output
// and the scenarios that failed.
func runScenarios(t *testing.T, n int, run string) ([]byte, [][]string) {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestScripts$"+run, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", labEnv, n))
	out, err := cmd.CombinedOutput()
	failed := regexp.MustCompile(`(?m)^\s*--- FAIL: TestScripts/(\S+)`).FindAllStringSubmatch(string(out), -1)
	if err == nil && len(failed) > 0 {
		t.Fatalf("%s passed, yet scenarios failed:\n%s", os.Args[0], out)
	}
	return out, failed
}

// checksLab says whether the scenario named name (TestScripts/step05_user)
// checks lab ($MINI_LAB: a step's number, or all): the step's own
// scenarios, stepNN_*, and those that say so in a line "# lab-check: N ..."
// (the rootless ones check step 5's maps, at every step).
func checksLab(name, lab string) bool {
	name = name[strings.LastIndexByte(name, '/')+1:]
	n, err := strconv.Atoi(lab)
	if lab == "all" {
		return strings.HasPrefix(name, "step")
	}
	if err != nil {
		return false
	}
	if strings.HasPrefix(name, fmt.Sprintf("step%02d_", n)) {
		return true
	}
	data, _ := os.ReadFile(filepath.Join("testdata", "script", name+".txt"))
	for _, line := range strings.Split(string(data), "\n") {
		if list, ok := strings.CutPrefix(line, "# lab-check:"); ok && slices.Contains(strings.Fields(list), lab) {
			return true
		}
	}
	return false
}

func TestLabNumber(t *testing.T) {
	for _, tc := range []struct {
		flag bool
		env  string
		step int
		want int
		err  string
	}{
		{false, "", 5, 0, ""},
		{true, "", 3, 3, ""},
		{true, "2", 3, 3, ""}, // --lab wins
		{false, "3", 8, 3, ""},
		{false, "3", 2, 3, ""},        // above --step: replaces nothing
		{true, "", 0, everyLab, ""},   // lab 00, the engine's
		{false, "0", 0, everyLab, ""}, // the same
		{false, "0", 8, 0, ""},        // lab 00 replaces nothing above step 0
		{false, "all", 8, everyLab, ""},
		{false, "all", 0, everyLab, ""},
		{false, "x", 8, 0, `$MINI_LAB=x: want the number of the step`},
		{false, "-1", 8, 0, `$MINI_LAB=-1: want the number of the step`},
		{false, "99", 8, 0, "$MINI_LAB=99: there is no lab for step 99"},
	} {
		t.Setenv(labEnv, tc.env)
		got, err := labNumber(tc.flag, tc.step)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("labNumber(%v, %d) with $%s=%q: error %v, want %q", tc.flag, tc.step, labEnv, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("labNumber(%v, %d) with $%s=%q = %d, %v; want %d", tc.flag, tc.step, labEnv, tc.env, got, err, tc.want)
		}
	}
}

// TestRecipe: the lab step takes the place of mini's, and only that one.
func TestRecipe(t *testing.T) {
	for _, lab := range labSteps {
		n := lab.Number()
		got := recipe(&steps.Spec{Step: maxStep(), Lab: n})
		if len(got) != len(allSteps) {
			t.Fatalf("lab %d: %d steps, want %d", n, len(got), len(allSteps))
		}
		for i, s := range got {
			want := allSteps[i]
			if s.Number() == n {
				want = lab
			}
			// Interface values are equal when their dynamic types are:
			// mini/lab/03-mount.Step is not mini/steps/03-mount.Step.
			if s != want {
				t.Errorf("lab %d: step %d is %s, want %s", n, s.Number(), pkgPath(s), pkgPath(want))
			}
		}
		if ref := findStep(allSteps, n); ref == lab || ref.Name() != lab.Name() {
			t.Errorf("lab %d: %s (%s) must be another type than %s, with its name (%s)", n, pkgPath(lab), lab.Name(), pkgPath(ref), ref.Name())
		}
	}
}

// TestRecipeEveryLab: with $MINI_LAB=all every step is the learner's.
func TestRecipeEveryLab(t *testing.T) {
	for i, s := range recipe(&steps.Spec{Step: maxStep(), Lab: everyLab}) {
		if want := findStep(labSteps, s.Number()); want != nil && s != want {
			t.Errorf("step %d (%d) is %s, want the lab's %s", s.Number(), i, pkgPath(s), pkgPath(want))
		}
	}
	if err := checkLab(&steps.Spec{Step: maxStep(), Lab: everyLab, Net: "bridge"}); err == nil || !strings.Contains(err.Error(), "TODO 1 in lab/01-uts") {
		t.Errorf("checkLab of every untouched skeleton = %v, want lab 1's TODO 1 first", err)
	}
}

func TestChecksLab(t *testing.T) {
	for _, c := range []struct {
		name, lab string
		want      bool
	}{
		{"step05_user", "5", true},
		{"rootless", "5", true}, // "# lab-check: 5"
		{"rootless", "3", false},
		{"step03_mount", "5", false},
		{"step03_mount", "3", true},
		{"step03_mount", "all", true},
		{"life_exec", "all", false},
		{"step00_lifecycle", "0", true},
	} {
		if got := checksLab(c.name, c.lab); got != c.want {
			t.Errorf("checksLab(%s, %s) = %v, want %v", c.name, c.lab, got, c.want)
		}
	}
}

// TestCheckLab: an untouched skeleton whose step makes a namespace is
// refused before anything runs.
func TestCheckLab(t *testing.T) {
	for _, lab := range labSteps {
		n := lab.Number()
		spec := &steps.Spec{Step: n, Lab: n, Net: "bridge"}
		err := checkLab(spec)
		if cloneFlags(steps.NewContext(spec, "host", io.Discard), findStep(allSteps, n)) == 0 {
			if err != nil {
				t.Errorf("lab %d: %v, but mini's step makes no namespace", n, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("TODO 1 in lab/%02d-%s", n, lab.Name())) {
			t.Errorf("lab %d: checkLab = %v, want the TODO 1 error", n, err)
		}
	}
}

func pkgPath(s steps.Step) string { return reflect.TypeOf(s).PkgPath() }
