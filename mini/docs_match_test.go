package main

import "testing"

func TestMatchLines(t *testing.T) {
	for _, tc := range []struct {
		want, got []string
		ok        bool
	}{
		{[]string{"box"}, []string{"box"}, true},
		{[]string{"box"}, []string{"boxes"}, false},
		{[]string{"<id>"}, []string{"3ce5dae5b78a"}, true},
		{[]string{"<id>"}, []string{"3ce5dae5b78"}, false},
		{[]string{"pid <n>", "<ip>"}, []string{"pid 12", "10.89.0.2/24"}, true},
		{[]string{"a", "...", "z"}, []string{"a", "b", "c", "z"}, true},
		{[]string{"a", "...", "z"}, []string{"a", "z"}, true},
		{[]string{"a", "...", "z"}, []string{"a", "b"}, false},
		{[]string{"x <*> y"}, []string{"x anything at all y"}, true},
		{[]string{"(a.b)"}, []string{"(axb)"}, false},
		{nil, nil, true},
		{nil, []string{"extra"}, false},
	} {
		if got := matchLines(tc.want, tc.got); got != tc.ok {
			t.Errorf("matchLines(%q, %q) = %v, want %v", tc.want, tc.got, got, tc.ok)
		}
	}
}
