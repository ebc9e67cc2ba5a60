package cgroups

import (
	"runtime"
	"strings"
	"testing"
)

func TestParseMemory(t *testing.T) {
	good := map[string]int64{
		"64m":      64 << 20,
		"64M":      64 << 20,
		"64mb":     64 << 20,
		"64MiB":    64 << 20,
		"64 m":     64 << 20,
		"1g":       1 << 30,
		"1.5g":     3 << 29,
		"6m":       6 << 20,
		"6291456":  6 << 20,
		"6291456b": 6 << 20,
		"8192k":    8 << 20,
		"2t":       2 << 40,
	}
	for in, want := range good {
		got, err := ParseMemory(in)
		if err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{
		"12XB":   "want a size",
		"":       "want a size",
		"m":      "want a size",
		"-5m":    "want a size",
		"1.2.3m": "want a size",
		"1e9":    "want a size",
		"64mm":   "want a size",
		"64bi":   "want a size",
		"0":      "at least 6MiB",
		"5m":     "at least 6MiB",
		"1024":   "at least 6MiB",
		"9000p":  "too large",
	}
	for in, want := range bad {
		_, err := ParseMemory(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), `-m "`+in+`"`) {
			t.Errorf("ParseMemory(%q): error %v, want one with %q", in, err, want)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	good := map[string]int64{"0.5": 50000, "1": 100000, "0.01": 1000, "0.25": 25000, "1.0": 100000}
	for in, want := range good {
		quota, period, err := ParseCPUs(in)
		if err != nil || quota != want || period != 100000 {
			t.Errorf("ParseCPUs(%q) = %d/%d, %v; want %d/100000", in, quota, period, err, want)
		}
	}
	if runtime.NumCPU() >= 2 {
		if q, _, err := ParseCPUs("1.5"); err != nil || q != 150000 {
			t.Errorf("ParseCPUs(1.5) = %d, %v", q, err)
		}
	}
	for _, in := range []string{"-1", "0", "0.001", "abc", "", "NaN", "Inf", "1000000"} {
		if _, _, err := ParseCPUs(in); err == nil || !strings.HasPrefix(err.Error(), `--cpus "`+in+`": want a number of CPUs`) {
			t.Errorf("ParseCPUs(%q): error %v", in, err)
		}
	}
}

func TestParsePidsLimit(t *testing.T) {
	good := map[string]int64{"20": 20, "1": 1, "-1": 0, "4194304": 4194304}
	for in, want := range good {
		if got, err := ParsePidsLimit(in); err != nil || got != want {
			t.Errorf("ParsePidsLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"abc", "0", "-2", "", "1.5", "4194305"} {
		if _, err := ParsePidsLimit(in); err == nil || !strings.HasPrefix(err.Error(), `--pids-limit "`+in+`"`) {
			t.Errorf("ParsePidsLimit(%q): error %v", in, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		32 << 20: "32MiB", 1 << 30: "1GiB", 3 << 29: "1536MiB", 6291457: "6291457B", 8 << 10: "8KiB",
	} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
