package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mini/mini/image"
)

func TestImageDir(t *testing.T) {
	for arg, want := range map[string]string{
		"../rootfs":        "dir",
		"/no/such/dir":     "no such directory",
		"../rootfs/alpine": "no such directory", // ../rootfs is here: a path
		"./busybox":        "no such directory",
		"run_test.go":      "not a directory",
		"busybox":          "name",
		"library/busybox":  "name",
		"localhost:5000/x": "name",
	} {
		_, ok, err := imageDir(arg)
		got := "name"
		switch {
		case err != nil && strings.Contains(err.Error(), want):
			got = want
		case err != nil:
			got = err.Error()
		case ok:
			got = "dir"
		}
		if got != want {
			t.Errorf("imageDir(%q): %s, want %s", arg, got, want)
		}
	}
}

// TestTooManyLayers: an image of more layers than overlayfs stacks is
// refused before anything runs.
func TestTooManyLayers(t *testing.T) {
	root := filepath.Join(t.TempDir(), "data")
	t.Setenv("MINI_DATA_ROOT", root)
	s, err := image.Open(root, true)
	if err != nil {
		t.Fatal(err)
	}
	put := func(data []byte) string {
		sum := sha256.Sum256(data)
		d := "sha256:" + hex.EncodeToString(sum[:])
		if err := os.WriteFile(s.BlobPath(d), data, 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	m := image.Manifest{SchemaVersion: 2}
	var diffIDs []string
	for i := 0; i <= maxLayers; i++ {
		d := put([]byte{byte(i), byte(i >> 8)})
		m.Layers = append(m.Layers, image.Descriptor{MediaType: image.MediaOCILayer, Digest: d})
		diffIDs = append(diffIDs, d)
		if err := os.MkdirAll(s.LayerDir(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	config, _ := json.Marshal(map[string]any{"config": map[string]any{"Cmd": []string{"sh"}}, "rootfs": map[string]any{"diff_ids": diffIDs}})
	m.Config = image.Descriptor{MediaType: image.MediaOCIConfig, Digest: put(config)}
	manifest, _ := json.Marshal(m)
	ref, _ := image.ParseReference("many:1")
	if err := s.Add(put(manifest), image.Record{Config: m.Config.Digest}, []image.Reference{ref}); err != nil {
		t.Fatal(err)
	}
	_, err = parseRun([]string{"--pull", "never", "many:1"})
	if err == nil || !strings.Contains(err.Error(), "image many:1 has 500 layers: overlayfs stacks at most 500 lower layers") {
		t.Errorf("parseRun of a 500-layer image: %v", err)
	}
}
