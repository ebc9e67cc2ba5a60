package mount

import (
	"reflect"
	"testing"
)

// A record is read back as written, in order; a line cut short by a mini
// killed while it wrote it, or one that names no absolute mount point, is
// skipped: no mount was made after it.
func TestReadRecord(t *testing.T) {
	data := []byte(`{"destination":"/proc","under":45}
{"destination":"/dev","under":45}
{"destination":"relative","under":3}
{"destination":"/dev/pts","under":87}
{"destination":"/mn`)
	want := []hostMount{{"/proc", 45}, {"/dev", 45}, {"/dev/pts", 87}}
	if got := readRecord(data); !reflect.DeepEqual(got, want) {
		t.Errorf("readRecord = %v, want %v", got, want)
	}
	if got := readRecord(nil); len(got) != 0 {
		t.Errorf("readRecord(empty) = %v, want none", got)
	}
}
