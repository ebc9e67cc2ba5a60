package steps

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken line
app:x:1000:1000::/home/app:/bin/sh
app:x:1001:1001::/home/second:/bin/sh
nohome:x:1002:1002:::/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
`

const testGroup = `root:x:0:
wheel:x:10:root,app
staff:x:50: app , daemon
app:x:1000:
nogroup:x:65534:
`

// TestLookupUser: docker's rules, as runc's GetExecUser applies them.
func TestLookupUser(t *testing.T) {
	for _, tc := range []struct {
		user string
		want Identity
	}{
		{"root", Identity{0, 0, []int{0, 10}, "/root"}},
		{"0", Identity{0, 0, []int{0, 10}, "/root"}},
		{"app", Identity{1000, 1000, []int{1000, 10, 50}, "/home/app"}},     // the first entry wins
		{"1001", Identity{1001, 1001, []int{1001, 10, 50}, "/home/second"}}, // groups by its name, app
		{"app:staff", Identity{1000, 50, []int{50}, "/home/app"}},           // an explicit group: that one only
		{"app:4242", Identity{1000, 4242, []int{4242}, "/home/app"}},        // a number needs no entry
		{"4242", Identity{4242, 0, []int{0}, "/"}},                          // neither does a user's
		{"4242:nogroup", Identity{4242, 65534, []int{65534}, "/"}},
		{"nohome", Identity{1002, 1002, []int{1002}, "/"}},
		{"daemon", Identity{1, 1, []int{1, 50}, "/usr/sbin"}},
	} {
		got, err := LookupUser("--user", tc.user, []byte(testPasswd), []byte(testGroup))
		if err != nil {
			t.Errorf("%s: %v", tc.user, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.user, diff)
		}
	}
	for user, msg := range map[string]string{
		"bob":        `-u bob: no user "bob" in the container's /etc/passwd`,
		"app:nobody": `no group "nobody" in the container's /etc/group`,
	} {
		if _, err := LookupUser("-u", user, []byte(testPasswd), []byte(testGroup)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", user, err, msg)
		}
	}
	// An image without the files: numbers still work.
	if got, err := LookupUser("--user", "7:8", nil, nil); err != nil || got.UID != 7 || got.GID != 8 || got.Home != "/" {
		t.Errorf("7:8 without files: %+v, %v", got, err)
	}
}

func TestCheckUser(t *testing.T) {
	for _, ok := range []string{"", "root", "1000", "1000:1000", "nobody:nogroup", "app-1.x"} {
		if err := CheckUser(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{":", ":0", "root:", "a:b:c", "a b", "-1", "0:4294967296", "2147483648"} {
		if err := CheckUser(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
