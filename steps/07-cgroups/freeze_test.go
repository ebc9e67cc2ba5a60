package cgroups

import (
	"os"
	"strings"
	"testing"

	"mini/steps"
	"mini/steps/07-cgroups/internal/record"
)

// TestFreezeV2: on cgroup v2, mini pause writes 1 to cgroup.freeze and
// waits for cgroup.events to say "frozen 1" (the kernel's word that every
// task stopped); resume writes 0 and waits for "frozen 0". Here the test
// plays the kernel: cgroup.events says what the write asked for already.
func TestFreezeV2(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()+"/mini-0123456789ab"
	spec := &steps.Spec{Root: root, ID: "0123456789ab"}
	if err := (record.Record{Version: 2, Dirs: map[string]string{"": dir}}).Save(record.Path(root, spec.ID)); err != nil {
		t.Fatal(err)
	}
	touch(t, dir, "cgroup.freeze")
	for _, frozen := range []bool{true, false} {
		events, want := "populated 1\nfrozen 0\n", "0"
		if frozen {
			events, want = "populated 1\nfrozen 1\n", "1"
		}
		os.WriteFile(dir+"/cgroup.events", []byte(events), 0o644)
		if err := Freeze(spec, frozen); err != nil {
			t.Fatalf("Freeze(%v): %v", frozen, err)
		}
		if data, _ := os.ReadFile(dir + "/cgroup.freeze"); strings.TrimSpace(string(data)) != want {
			t.Errorf("Freeze(%v) wrote %q to cgroup.freeze, want %q", frozen, data, want)
		}
		if Frozen(spec) != frozen {
			t.Errorf("Frozen after Freeze(%v) = %v", frozen, !frozen)
		}
	}
	if err := Freeze(&steps.Spec{Root: root, ID: "000000000000"}, true); err != ErrNoCgroup {
		t.Errorf("Freeze of a container without a cgroup: %v, want ErrNoCgroup", err)
	}
}
