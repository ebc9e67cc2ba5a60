package build

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mini/mini/image"
)

// TestApplyConfig: the config's instructions as docker applies them.
func TestApplyConfig(t *testing.T) {
	c := image.RunConfig{Env: []string{"PATH=/bin", "A=old"}, Cmd: []string{"sh"}, WorkingDir: "/srv"}
	cmdSet := false
	lx := vars{env: c.Env, args: map[string]string{"V": "2"}}.lexer('\\')
	for _, line := range []string{
		`ENV A=new B="two words" C=$A`, // C gets the A of before the line
		`ENV LEGACY value with spaces`,
		`LABEL version=$V "org.x"=y`,
		`EXPOSE 80 53/udp 8000-8001`,
		`USER app:$V`,
		`WORKDIR sub`,           // relative to the WORKDIR before
		`ENTRYPOINT ["/entry"]`, // drops the base's CMD
	} {
		in := Instruction{File: "t", Line: 1, Rest: line}
		if err := in.split(); err != nil {
			t.Fatal(err)
		}
		if _, err := applyConfig(in, &c, lx, &cmdSet); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	want := image.RunConfig{
		Env:          []string{"PATH=/bin", "A=new", "B=two words", "C=old", "LEGACY=value with spaces"},
		Labels:       map[string]string{"version": "2", "org.x": "y"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}},
		User:         "app:2",
		WorkingDir:   "/srv/sub",
		Entrypoint:   []string{"/entry"},
	}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
	// A CMD of this Dockerfile stays when ENTRYPOINT comes after it.
	for _, line := range []string{`CMD echo hi`, `ENTRYPOINT ["/other"]`} {
		in := Instruction{File: "t", Line: 1, Rest: line}
		in.split()
		applyConfig(in, &c, lx, &cmdSet)
	}
	if d := cmp.Diff([]string{"/bin/sh", "-c", "echo hi"}, c.Cmd); d != "" {
		t.Errorf("CMD then ENTRYPOINT (-want +got):\n%s", d)
	}
}

func TestApplyChange(t *testing.T) {
	c := image.RunConfig{}
	if _, err := ApplyChange(`CMD ["a"]`, &c); err != nil || len(c.Cmd) != 1 {
		t.Errorf("CMD: %v %v", err, c.Cmd)
	}
	for _, bad := range []string{"RUN true", "COPY a b", "EXPOSE 99999", "FROMM x"} {
		if _, err := ApplyChange(bad, &c); err == nil || !strings.HasPrefix(err.Error(), "-c ") {
			t.Errorf("%s: %v, want an error about -c", bad, err)
		}
	}
}
