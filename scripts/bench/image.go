package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The image bench (make bench-image, -images): pulling and unpacking an
// image of three layers, about 100 MB, from a registry on this machine
// (Debian's docker-registry), with mini pull beside skopeo copy + umoci
// unpack, the tools that do the same in two steps; then containers of one
// image started at once, to see that they share one copy of its layers.

// imageBench runs in the benchmark's mount namespace; the image, the
// registry's storage and every store are in a directory on disk (dir), as
// /var/lib/mini is.
func imageBench(bin, img string, runs, containers int) {
	for _, tool := range []string{"docker-registry", "skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			fatal("bench: the image bench needs " + tool + ": sudo sh scripts/provision.sh installs it")
		}
	}
	dir, err := os.MkdirTemp("/var/tmp", "mini-bench-image-")
	check(err)
	defer os.RemoveAll(dir)
	// mini's --root is under it: the path must be searchable by the
	// containers' root, as /run's is.
	check(os.Chmod(dir, 0o711))
	reg, stop := startRegistry(dir)
	defer stop()
	name := reg + "/bench/three:v1"
	size := buildImage(dir, img, name)

	data := filepath.Join(dir, "data")
	env := append(os.Environ(), "MINI_DATA_ROOT="+data, "MINI_ROOT="+filepath.Join(dir, "state"), "DOCKER_CONFIG="+filepath.Join(dir, "docker"))
	oci, bundle := filepath.Join(dir, "oci"), filepath.Join(dir, "bundle")
	mini := &row{name: "mini pull"}
	skopeo := &row{name: "skopeo copy"}
	umoci := &row{name: "umoci unpack"}
	both := &row{name: "skopeo copy + umoci unpack"}
	steps := []func(i int) error{
		func(i int) error {
			os.RemoveAll(data)
			d, err := timed(env, bin, "pull", "-q", name)
			if err == nil && i > 0 {
				mini.record(i, d, nil)
			}
			return err
		},
		func(i int) error {
			os.RemoveAll(oci)
			os.RemoveAll(bundle)
			d1, err := timed(env, "skopeo", "copy", "--quiet", "--insecure-policy", "--src-tls-verify=false", "docker://"+name, "oci:"+oci+":v1")
			if err != nil {
				return err
			}
			d2, err := timed(env, "umoci", "unpack", "--image", oci+":v1", bundle)
			if err != nil {
				return err
			}
			if i > 0 {
				skopeo.record(i, d1, nil)
				umoci.record(i, d2, nil)
				both.record(i, d1+d2, nil)
			}
			return nil
		},
	}
	// Once each to warm up (the registry's files into the page cache),
	// then interleaved, each round in an order of its own.
	for _, s := range steps {
		check(s(0))
	}
	for i := 1; i <= runs; i++ {
		for _, j := range rand.Perm(len(steps)) {
			check(steps[j](i))
		}
	}
	fmt.Printf("pull and unpack of an image of 3 layers, %s uncompressed, from a registry on this machine (docker-registry), %d interleaved runs each, %s\n",
		humanMB(size), runs, hostLine())
	fmt.Printf("%-36s %9s %9s %9s %8s\n", "", "median", "p10", "p90", "x mini")
	for _, r := range []*row{mini, both, skopeo, umoci} {
		fmt.Printf("%-36s %9s %9s %9s %8s\n", r.name, sec(median(r.times)), sec(pct(r.times, 10)), sec(pct(r.times, 90)), ratio(median(r.times), median(mini.times)))
	}
	var diffs []time.Duration
	for i, d := range both.byRound {
		diffs = append(diffs, d-mini.byRound[i])
	}
	fmt.Printf("skopeo + umoci take %s more than mini pull (median of the %d rounds' differences)\n", sec(median(diffs)), len(diffs))

	if containers > 0 {
		check(os.RemoveAll(data))
		_, err := timed(env, bin, "pull", "-q", name)
		check(err)
		shared(bin, env, dir, data, name, containers)
	}
}

// startRegistry runs docker-registry on a free port of 127.0.0.1, its
// storage under dir; stop kills it.
func startRegistry(dir string) (string, func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "registry.yml")
	check(os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"+
		"storage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "registry"), addr)), 0o600))
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	check(cmd.Start())
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr, stop
		}
		if time.Now().After(deadline) {
			stop()
			fatal("bench: docker-registry did not start on " + addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// buildImage makes three directories of files, about 33 MB each (the
// first with the busybox image img in it too), builds an image of them
// with umoci (a layer each, gzip), pushes it with skopeo, and returns the
// generated files' size. The files are made the same every time
// (a fixed seed): words from a small vocabulary, compressible as text and
// programs are, and a tenth of random bytes, as compressed data is.
func buildImage(dir, img, name string) int64 {
	layout := filepath.Join(dir, "layout")
	run("umoci", "init", "--layout", layout)
	run("umoci", "new", "--image", layout+":v1")
	rng := rand.New(rand.NewPCG(1, 2))
	var words []string
	for i := 0; i < 512; i++ {
		w := make([]byte, 3+rng.IntN(8))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		words = append(words, string(w))
	}
	var total int64
	for layer := 0; layer < 3; layer++ {
		// Each layer goes to /usr/share/benchN; the first also holds busybox,
		// so that containers of the image have a shell.
		root := filepath.Join(dir, fmt.Sprintf("layer%d", layer))
		target := "/"
		if layer == 0 {
			run("cp", "-a", img, root)
		} else {
			target = fmt.Sprintf("/usr/share/bench%d", layer)
		}
		src := filepath.Join(root, "usr", "share", fmt.Sprintf("bench%d", layer))
		if layer > 0 {
			src = root
		}
		var size int64
		for f := 0; size < 33<<20; f++ {
			p := filepath.Join(src, fmt.Sprintf("d%02d", f%40), fmt.Sprintf("f%04d", f))
			check(os.MkdirAll(filepath.Dir(p), 0o755))
			n := 1<<10 + rng.IntN(64<<10)
			if f%20 == 0 {
				n = 256<<10 + rng.IntN(1<<20) // a few big ones
			}
			b := make([]byte, 0, n+16)
			if f%10 == 0 {
				for len(b) < n {
					b = append(b, byte(rng.Uint32()))
				}
			} else {
				for len(b) < n {
					b = append(append(b, words[rng.IntN(len(words))]...), ' ')
				}
			}
			check(os.WriteFile(p, b, 0o644))
			size += int64(len(b))
		}
		run("umoci", "insert", "--image", layout+":v1", root, target)
		total += size
	}
	run("skopeo", "copy", "--quiet", "--insecure-policy", "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+name)
	return total
}

// shared starts n containers of the image at once, each holding on a FIFO
// until all run (as scaleRun), and measures with du what their layers take
// on disk: the store's one copy of the image's layers, and each
// container's own.
func shared(bin string, env []string, dir, data, name string, n int) {
	gate := filepath.Join(dir, "gate")
	check(os.Mkdir(gate, 0o755))
	fifo := filepath.Join(gate, "go")
	check(unix.Mkfifo(fifo, 0o644))
	hold, err := os.OpenFile(fifo, os.O_RDWR, 0)
	check(err)
	up := make(chan bool, n)
	var wg sync.WaitGroup
	var failed sync.Once
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := exec.Command(bin, "run", "--net", "none", "--rm", "-v", gate+":/mnt", name,
				"sh", "-c", "exec 3</mnt/go; ls /usr/share/bench0 | wc -l; cat <&3 >/dev/null")
			c.Env = env
			var stderr strings.Builder
			c.Stderr = &stderr
			out, err := c.StdoutPipe()
			if err == nil {
				err = c.Start()
			}
			if err != nil {
				up <- false
				return
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			up <- strings.TrimSpace(line) != ""
			io.Copy(io.Discard, out)
			if c.Wait() != nil {
				failed.Do(func() { fmt.Fprintf(os.Stderr, "bench: a container failed: %s\n", strings.TrimSpace(stderr.String())) })
			}
		}()
	}
	running := 0
	for i := 0; i < n; i++ {
		if <-up {
			running++
		}
	}
	layers := du(filepath.Join(data, "layers"))
	containers := du(filepath.Join(dir, "state", "containers"))
	hold.Close()
	wg.Wait()
	fmt.Printf("%d containers of the image at once (%d running): its layers on disk once, %s (du of <data-root>/layers; a copy each would be %s); the containers' own directories (init, upper, work), %s in all\n",
		n, running, humanMB(layers), humanMB(int64(n)*layers), humanMB(containers))
}

// du is du -s in bytes: each file once, however many links it has.
func du(path string) int64 {
	out, err := exec.Command("du", "-s", "--block-size=1", path).Output()
	check(err)
	n, _ := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	return n
}

func run(name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("bench: %s %s: %v: %s", name, strings.Join(args, " "), err, out))
	}
}

// timed runs a command and returns its wall time.
func timed(env []string, name string, args ...string) (time.Duration, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return time.Since(start), nil
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func humanMB(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
