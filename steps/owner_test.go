package steps

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseStart(t *testing.T) {
	// proc(5): field 22 is starttime; the command name may hold ") (".
	stat := "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615"
	got, err := parseStart(stat)
	if err != nil || got != 987654 {
		t.Errorf("parseStart = %d, %v; want 987654", got, err)
	}
	if _, err := parseStart("4242 (x) S 1"); err == nil {
		t.Error("parseStart(short line) = nil error")
	}
}

// TestOwner: this very process is alive; the same pid with another start
// time (a reused pid) is not, nor is a pid that does not exist.
func TestOwner(t *testing.T) {
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if !me.Alive() {
		t.Errorf("%+v: this process is not alive", me)
	}
	if (Owner{PID: me.PID, Start: me.Start + 1}).Alive() {
		t.Error("a reused pid counts as alive")
	}
	if (Owner{PID: 1 << 30, Start: 1}).Alive() {
		t.Error("a pid that does not exist counts as alive")
	}
	path := filepath.Join(t.TempDir(), "owner")
	if err := WriteOwner(path, me); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadOwner(path); err != nil || got != me {
		t.Errorf("ReadOwner = %+v, %v; want %+v", got, err, me)
	}
	os.WriteFile(path, nil, 0o600) // a mini killed before its write
	if _, err := ReadOwner(path); err == nil {
		t.Error("ReadOwner of an empty file: no error")
	}
}

// TestOwnerZombie: a child that has exited and is not reaped yet is a
// zombie, and a zombie is gone.
func TestOwnerZombie(t *testing.T) {
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Skip("no /bin/true:", err)
	}
	defer cmd.Wait()
	start, err := ProcessStart(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	o := Owner{PID: cmd.Process.Pid, Start: start}
	// Wait until it has exited without reaping it: waitid(WNOWAIT).
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, o.PID, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if o.Alive() {
		t.Errorf("%+v: a zombie counts as alive", o)
	}
}
