package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/rogpeppe/go-internal/testscript"

	"mini/mini/image"
)

// The image scenarios' commands: a registry server of their own, images
// built from directories, hostile archives, and a check for image commands
// that must fail cleanly.
func init() {
	commands["registry"] = cmdRegistry
	commands["mkimage"] = cmdMkimage
	commands["mkhostile"] = cmdMkhostile
	commands["badimage"] = cmdBadImage
	commands["stallproxy"] = cmdStallProxy
}

// registry start: run Debian's docker-registry (the CNCF distribution
// server) on a free port of 127.0.0.1, its config and storage in
// $WORK/registry, stopped at the end of the scenario. Sets $REGISTRY to
// 127.0.0.1:PORT.
func cmdRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || args[0] != "start" {
		ts.Fatalf("usage: registry start")
	}
	bin, err := exec.LookPath("docker-registry")
	ts.Check(err)
	dir := ts.MkAbs("registry")
	ts.Check(os.MkdirAll(filepath.Join(dir, "data"), 0o700))
	logFile, err := os.Create(filepath.Join(dir, "log"))
	ts.Check(err)
	defer logFile.Close()
	// A port the kernel says is free; another program may take it before
	// the registry does, which then exits, and the next try takes another.
	for try := 0; try < 5; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		addr := l.Addr().String()
		l.Close()
		config := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"+
			"storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"+
			"http:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
		cfg := filepath.Join(dir, "config.yml")
		ts.Check(os.WriteFile(cfg, []byte(config), 0o600))
		cmd := exec.Command(bin, "serve", cfg)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		ts.Check(cmd.Start())
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		ts.Defer(func() {
			cmd.Process.Kill()
			<-exited
		})
		if waitRegistry(addr, exited) {
			ts.Setenv("REGISTRY", addr)
			return
		}
		cmd.Process.Kill()
	}
	out, _ := os.ReadFile(filepath.Join(dir, "log"))
	ts.Fatalf("docker-registry did not start: %s", out)
}

// waitRegistry waits until the registry answers GET /v2/, or exits.
func waitRegistry(addr string, exited chan struct{}) bool {
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := client.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// mkimage [-zstd] [-arch A,B] [-config FILE] LAYOUT TAG DIR...: write an
// OCI image layout in LAYOUT holding an image tagged TAG whose layers are
// the directories DIR, bottom first, each tarred as it is (a file named
// .wh.X or .wh..wh..opq is a whiteout, as in any layer), gzip- or
// zstd-compressed. FILE holds the config's "config" object (Env, Cmd ...).
// With more than one architecture the tag names an index of one image
// each (for any other than this machine's, the layers are left out).
func cmdMkimage(ts *testscript.TestScript, neg bool, args []string) {
	fset := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	useZstd := fset.Bool("zstd", false, "compress the layers with zstd")
	arches := fset.String("arch", goarch(), "architectures, comma-separated")
	configFile := fset.String("config", "", "the config's config object, JSON")
	if neg || fset.Parse(args) != nil || fset.NArg() < 3 {
		ts.Fatalf("usage: mkimage [-zstd] [-arch A,B] [-config FILE] LAYOUT TAG DIR...")
	}
	layout, tag := ts.MkAbs(fset.Arg(0)), fset.Arg(1)
	ts.Check(os.MkdirAll(filepath.Join(layout, "blobs", "sha256"), 0o755))
	put := func(data []byte) image.Descriptor {
		d := sha256Digest(data)
		ts.Check(os.WriteFile(filepath.Join(layout, "blobs", "sha256", image.Hex(d)), data, 0o644))
		return image.Descriptor{Digest: d, Size: int64(len(data))}
	}
	var layers []image.Descriptor
	var diffIDs []string
	for _, dir := range fset.Args()[2:] {
		raw := tarDir(ts, ts.MkAbs(dir))
		diffIDs = append(diffIDs, sha256Digest(raw))
		var b bytes.Buffer
		mt := image.MediaOCILayerGzip
		if *useZstd {
			mt = image.MediaOCILayerZstd
			zw, err := zstd.NewWriter(&b)
			ts.Check(err)
			zw.Write(raw)
			ts.Check(zw.Close())
		} else {
			zw := gzip.NewWriter(&b)
			zw.Write(raw)
			ts.Check(zw.Close())
		}
		d := put(b.Bytes())
		d.MediaType = mt
		layers = append(layers, d)
	}
	runConfig := map[string]any{}
	if *configFile != "" {
		ts.Check(json.Unmarshal([]byte(ts.ReadFile(*configFile)), &runConfig))
	}
	var manifests []image.Descriptor
	for _, arch := range strings.Split(*arches, ",") {
		ls, ids := layers, diffIDs
		if arch != goarch() {
			ls, ids = []image.Descriptor{}, []string{}
		}
		config, _ := json.Marshal(map[string]any{
			"created": "2024-01-02T03:04:05Z", "architecture": arch, "os": "linux", "config": runConfig,
			"rootfs": map[string]any{"type": "layers", "diff_ids": ids},
		})
		cd := put(config)
		cd.MediaType = image.MediaOCIConfig
		manifest, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaOCIManifest, Config: cd, Layers: ls})
		md := put(manifest)
		md.MediaType = image.MediaOCIManifest
		md.Platform = &image.Platform{OS: "linux", Architecture: arch}
		manifests = append(manifests, md)
	}
	top := manifests[0]
	top.Platform = nil
	if len(manifests) > 1 {
		ix, _ := json.Marshal(image.Index{SchemaVersion: 2, MediaType: image.MediaOCIIndex, Manifests: manifests})
		top = put(ix)
		top.MediaType = image.MediaOCIIndex
	}
	top.Annotations = map[string]string{image.AnnotationRefName: tag}
	ix, _ := json.Marshal(image.Index{SchemaVersion: 2, MediaType: image.MediaOCIIndex, Manifests: []image.Descriptor{top}})
	ts.Check(os.WriteFile(filepath.Join(layout, "index.json"), ix, 0o644))
	ts.Check(os.WriteFile(filepath.Join(layout, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
}

func goarch() string { return runtime.GOARCH }

func sha256Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// tarDir tars a directory as a layer: names relative to it, directories
// first, owners and modes as they are, hard links as links.
func tarDir(ts *testscript.TestScript, dir string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	seen := map[uint64]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Format, hdr.Uname, hdr.Gname = filepath.ToSlash(rel), tar.FormatPAX, "", ""
		// Reading a file changes its atime: leave times other than the
		// mtime out, so that the same directory makes the same layer.
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if fi.IsDir() {
			hdr.Name += "/"
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().IsRegular() && st.Nlink > 1 {
			if first, ok := seen[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				seen[st.Ino] = hdr.Name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	ts.Check(err)
	ts.Check(tw.Close())
	return b.Bytes()
}

// mkhostile KIND OUT: write to OUT a docker save archive of one image whose
// second layer is hostile (the first is harmless, so that a load that
// refuses the image must take it back too). KIND: dotdot (an entry
// "../escaped"), absolute ($WORK/escaped), symlink (a link to $WORK/outside,
// then a file under it), hardlink (a hard link to ../../$WORK/secret),
// hardlink-symlink (a hard link through a link to $WORK), hugename (a 5000-
// byte name), diffid (a layer whose hash is not the config's), path
// (manifest.json names a layer "../../etc/passwd"), digest (an OCI layout
// whose layer blob is not what its digest says).
func cmdMkhostile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkhostile KIND OUT")
	}
	work := ts.Getenv("WORK")
	kind, out := args[0], ts.MkAbs(args[1])
	good := layerOf(ts, tar.Header{Name: "harmless", Typeflag: tar.TypeReg, Mode: 0o644})
	var bad []byte
	switch kind {
	case "dotdot":
		bad = layerOf(ts, tar.Header{Name: "../../../../../../../../../" + work + "/escaped", Typeflag: tar.TypeReg, Mode: 0o644})
	case "absolute":
		bad = layerOf(ts, tar.Header{Name: work + "/escaped", Typeflag: tar.TypeReg, Mode: 0o644})
	case "symlink":
		bad = layerOf(ts, tar.Header{Name: "out", Typeflag: tar.TypeSymlink, Linkname: work + "/outside"},
			tar.Header{Name: "out/escaped", Typeflag: tar.TypeReg, Mode: 0o644})
	case "hardlink":
		bad = layerOf(ts, tar.Header{Name: "secret", Typeflag: tar.TypeLink, Linkname: "../../../../../../../.." + work + "/secret"})
	case "hardlink-symlink":
		bad = layerOf(ts, tar.Header{Name: "w", Typeflag: tar.TypeSymlink, Linkname: work},
			tar.Header{Name: "secret", Typeflag: tar.TypeLink, Linkname: "w/secret"})
	case "hugename":
		bad = layerOf(ts, tar.Header{Name: strings.Repeat("a/", 2500) + "f", Typeflag: tar.TypeReg, Mode: 0o644})
	case "diffid", "path", "digest":
		bad = layerOf(ts, tar.Header{Name: "fine", Typeflag: tar.TypeReg, Mode: 0o644})
	default:
		ts.Fatalf("mkhostile: unknown kind %q", kind)
	}
	diffIDs := []string{sha256Digest(good), sha256Digest(bad)}
	if kind == "diffid" {
		diffIDs[1] = sha256Digest([]byte("something else"))
	}
	config, _ := json.Marshal(map[string]any{"architecture": goarch(), "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	files := map[string][]byte{}
	if kind == "digest" {
		// An OCI layout: the bad layer's blob is stored under the digest of
		// other bytes.
		cd := image.Descriptor{MediaType: image.MediaOCIConfig, Digest: sha256Digest(config), Size: int64(len(config))}
		gd := image.Descriptor{MediaType: image.MediaOCILayer, Digest: sha256Digest(good), Size: int64(len(good))}
		bd := image.Descriptor{MediaType: image.MediaOCILayer, Digest: sha256Digest(append(bad, 0)), Size: int64(len(bad))}
		manifest, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaOCIManifest, Config: cd, Layers: []image.Descriptor{gd, bd}})
		md := image.Descriptor{MediaType: image.MediaOCIManifest, Digest: sha256Digest(manifest), Size: int64(len(manifest)),
			Annotations: map[string]string{image.AnnotationImageName: "hostile/digest:1"}}
		ix, _ := json.Marshal(image.Index{SchemaVersion: 2, Manifests: []image.Descriptor{md}})
		for d, data := range map[string][]byte{cd.Digest: config, gd.Digest: good, bd.Digest: bad, md.Digest: manifest} {
			files["blobs/sha256/"+image.Hex(d)] = data
		}
		files["index.json"], files["oci-layout"] = ix, []byte(`{"imageLayoutVersion":"1.0.0"}`)
	} else {
		layers := []string{"good/layer.tar", "bad/layer.tar"}
		if kind == "path" {
			layers[1] = "../../../../etc/passwd"
		}
		manifest, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{"hostile/" + kind + ":1"}, "Layers": layers}})
		files["config.json"], files["manifest.json"] = config, manifest
		files["good/layer.tar"], files["bad/layer.tar"] = good, bad
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ts.Check(tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[n]))}))
		tw.Write(files[n])
	}
	ts.Check(tw.Close())
	ts.Check(os.WriteFile(out, b.Bytes(), 0o644))
}

// layerOf writes a layer tar of these entries (all empty).
func layerOf(ts *testscript.TestScript, hdrs ...tar.Header) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		h.Format = tar.FormatPAX
		ts.Check(tw.WriteHeader(&h))
	}
	ts.Check(tw.Close())
	return b.Bytes()
}

// badimage SUBCOMMAND ARG...: "mini SUBCOMMAND ARG..." must fail as bad
// input does: exit 125, one line on stderr starting with "mini: ", and the
// image store ($MINI_DATA_ROOT) left as it was: no blob, no layer, nothing
// in tmp/. (stdout may hold what came before the failure, as docker pull's
// first lines.)
func cmdBadImage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: badimage SUBCOMMAND ARG...")
	}
	root := ts.Getenv("MINI_DATA_ROOT")
	before := storeListing(root)
	err := ts.Exec("mini", args...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 {
		ts.Fatalf("want exit status 125, got %v", err)
	}
	stderr := ts.ReadFile("stderr")
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "mini: ") {
		ts.Fatalf("want one line on stderr starting with \"mini: \", got %q", stderr)
	}
	if after := storeListing(root); strings.Join(after, "\n") != strings.Join(before, "\n") {
		ts.Fatalf("the image store changed:\nbefore: %q\nafter:  %q", before, after)
	}
}

// storeListing lists what the store holds: every path, but the lock file.
func storeListing(root string) []string {
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() != "lock" {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	return out
}

// stallproxy start|wait|release: a proxy on 127.0.0.1 in front of
// $REGISTRY ($PROXY) that sends half of every blob over 1 MB and then holds
// it, so that a pull can be killed in the middle of a layer. wait waits
// until a blob is held; release lets every blob through from then on.
func cmdStallProxy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stallproxy start|wait|release")
	}
	stallMu.Lock()
	p := stalls[ts]
	stallMu.Unlock()
	switch args[0] {
	case "start":
		target, err := url.Parse("http://" + ts.Getenv("REGISTRY"))
		ts.Check(err)
		p = &stallProxy{held: make(chan struct{}), release: make(chan struct{})}
		rp := httputil.NewSingleHostReverseProxy(target)
		rp.FlushInterval = -1
		rp.ErrorLog = log.New(io.Discard, "", 0) // a killed pull's connection
		rp.ModifyResponse = func(resp *http.Response) error {
			if strings.Contains(resp.Request.URL.Path, "/blobs/") && resp.ContentLength > 1<<20 {
				resp.Body = &stallBody{ReadCloser: resp.Body, left: resp.ContentLength / 2, p: p}
			}
			return nil
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		srv := &http.Server{Handler: rp}
		go srv.Serve(l)
		stallMu.Lock()
		stalls[ts] = p
		stallMu.Unlock()
		ts.Defer(func() {
			p.open()
			srv.Close()
			stallMu.Lock()
			delete(stalls, ts)
			stallMu.Unlock()
		})
		ts.Setenv("PROXY", l.Addr().String())
	case "wait":
		select {
		case <-p.held:
		case <-time.After(60 * time.Second):
			ts.Fatalf("stallproxy: no blob was held in 60s")
		}
	case "release":
		p.open()
	default:
		ts.Fatalf("usage: stallproxy start|wait|release")
	}
}

var (
	stallMu sync.Mutex
	stalls  = map[*testscript.TestScript]*stallProxy{}
)

type stallProxy struct {
	once, heldOnce sync.Once
	held, release  chan struct{}
}

func (p *stallProxy) open() { p.once.Do(func() { close(p.release) }) }

// stallBody passes left bytes, then blocks until the proxy is released.
type stallBody struct {
	io.ReadCloser
	left int64
	p    *stallProxy
}

func (b *stallBody) Read(buf []byte) (int, error) {
	if b.left <= 0 {
		b.p.heldOnce.Do(func() { close(b.p.held) })
		<-b.p.release
		return b.ReadCloser.Read(buf)
	}
	if int64(len(buf)) > b.left {
		buf = buf[:b.left]
	}
	n, err := b.ReadCloser.Read(buf)
	b.left -= int64(n)
	return n, err
}
