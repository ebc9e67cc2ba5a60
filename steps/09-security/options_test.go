package security

import (
	"strings"
	"testing"
)

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want options
	}{
		{nil, options{}},
		{[]string{"no-new-privileges"}, options{noNewPrivs: true}},
		{[]string{"no-new-privileges=true", "no-new-privileges=false"}, options{}},
		{[]string{"seccomp=unconfined"}, options{seccomp: "unconfined"}},
		{[]string{"seccomp=/p.json", "systempaths=unconfined"}, options{seccomp: "/p.json", unmasked: true}},
	} {
		got, err := parseOptions(tc.opts)
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.opts, got, err, tc.want)
		}
	}
	for opt, msg := range map[string]string{
		"no-new-privileges=maybe": "want no-new-privileges, or =true or =false",
		"seccomp=":                "want no-new-privileges, seccomp=unconfined",
		"systempaths=all":         "want no-new-privileges",
		"apparmor=unconfined":     "no AppArmor or SELinux",
		"label=disable":           "no AppArmor or SELinux",
		"nonsense":                "want no-new-privileges",
	} {
		if _, err := parseOptions([]string{opt}); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", opt, err, msg)
		}
	}
}
