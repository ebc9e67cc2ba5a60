package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The build bench (make bench-build, -build): one Dockerfile of five
// instructions (FROM, RUN, COPY of 10 MB of files, ENV, CMD) built by mini
// build and by buildah bud in the same run, interleaved: mini with
// --no-cache, buildah as it builds by default (the whole build one layer)
// and with --layers --no-cache (a layer per step, as mini and docker make
// them); then the same build again with every step in the cache. Both on
// the same base (rootfs/busybox, as an image mini builds FROM scratch and
// buildah pulls from mini save's archive), both at their default
// isolation: mini's RUN a step 9 container without network, buildah's one
// of runc's.

const benchDockerfile = `FROM busybox
RUN mkdir -p /app/logs && echo built >/app/built && rm /bin/ls
COPY files /app/files
ENV MODE=bench
CMD ["cat", "/app/built"]
`

func buildBench(bin, img string, runs int) {
	for _, tool := range []string{"buildah", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			fatal("bench: the build bench needs " + tool + ": sudo sh scripts/provision.sh installs it")
		}
	}
	dir, err := os.MkdirTemp("/var/tmp", "mini-bench-build-")
	check(err)
	defer os.RemoveAll(dir)
	check(os.Chmod(dir, 0o711))
	env := append(os.Environ(), "MINI_DATA_ROOT="+filepath.Join(dir, "data"), "MINI_ROOT="+filepath.Join(dir, "state"), "HOME="+dir)
	buildah := []string{"buildah", "--root", filepath.Join(dir, "buildah"), "--runroot", filepath.Join(dir, "buildah-run"), "--storage-driver", "overlay"}

	// The base: busybox, built by mini FROM scratch, and the same archive
	// pulled by buildah.
	base := filepath.Join(dir, "base.Dockerfile")
	check(os.WriteFile(base, []byte("FROM scratch\nCOPY . /\nCMD [\"sh\"]\n"), 0o644))
	_, err = timed(env, bin, "build", "--network", "none", "-f", base, "-t", "busybox", img)
	check(err)
	archive := filepath.Join(dir, "busybox.tar")
	_, err = timed(env, bin, "save", "-o", archive, "busybox")
	check(err)
	_, err = timed(env, buildah[0], append(buildah[1:], "pull", "-q", "docker-archive:"+archive)...)
	check(err)

	// The context: the Dockerfile and 10 MB of files in 100.
	ctx := filepath.Join(dir, "ctx")
	rng := rand.New(rand.NewPCG(3, 4))
	var size int
	for f := 0; size < 10<<20; f++ {
		p := filepath.Join(ctx, "files", fmt.Sprintf("d%d", f%10), fmt.Sprintf("f%03d", f))
		check(os.MkdirAll(filepath.Dir(p), 0o755))
		b := make([]byte, 100<<10)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		check(os.WriteFile(p, b, 0o644))
		size += len(b)
	}
	check(os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(benchDockerfile), 0o644))
	bud := func(args ...string) []string {
		return append(append(append([]string{}, buildah...), "bud", "--quiet", "--network", "none"), append(args, "-t", "localhost/bench", ctx)...)
	}

	rows := []struct {
		r    *row
		argv []string
	}{
		{&row{name: "mini build --no-cache"}, []string{bin, "build", "--network", "none", "--no-cache", "-t", "bench", ctx}},
		{&row{name: "buildah bud"}, bud()},
		{&row{name: "buildah bud --layers --no-cache"}, bud("--layers", "--no-cache")},
	}
	cached := []struct {
		r    *row
		argv []string
	}{
		{&row{name: "mini build, every step cached"}, []string{bin, "build", "--network", "none", "-t", "bench", ctx}},
		{&row{name: "buildah bud --layers, every step cached"}, bud("--layers")},
	}
	all := append(rows, cached...)
	// Once each to warm up (and to fill the caches), then interleaved,
	// each round in an order of its own.
	for _, x := range all {
		_, err := timed(env, x.argv[0], x.argv[1:]...)
		check(err)
	}
	for i := 1; i <= runs; i++ {
		for _, j := range rand.Perm(len(all)) {
			d, err := timed(env, all[j].argv[0], all[j].argv[1:]...)
			check(err)
			all[j].r.record(i, d, nil)
		}
	}
	fmt.Printf("a Dockerfile of 5 instructions (FROM busybox, RUN, COPY of %s in 100 files, ENV, CMD), %d interleaved runs each, %s\n",
		humanMB(int64(size)), runs, hostLine())
	fmt.Printf("%-40s %9s %9s %9s %8s\n", "", "median", "p10", "p90", "x mini")
	for _, group := range [][]*row{{rows[0].r, rows[1].r, rows[2].r}, {cached[0].r, cached[1].r}} {
		for _, r := range group {
			fmt.Printf("%-40s %9s %9s %9s %8s\n", r.name, secs(median(r.times)), secs(pct(r.times, 10)), secs(pct(r.times, 90)), ratio(median(r.times), median(group[0].times)))
		}
	}
	target := 300 * time.Millisecond
	verdict := "under"
	if median(cached[0].r.times) >= target {
		verdict = "over"
	}
	fmt.Printf("mini's rebuild with every step cached: %s median, %s the %s target\n", secs(median(cached[0].r.times)), verdict, secs(target))
}

// secs is a time in seconds, to the millisecond.
func secs(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }
