package image

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The documents an image is made of, as the OCI image spec
// (github.com/opencontainers/image-spec: manifest.md, image-index.md,
// config.md, descriptor.md) and Docker's schema 2 (which the OCI one was
// made from) write them. Only the fields mini reads are here; a document is
// stored as the bytes that came, since its digest is the hash of them.

// Media types: what a descriptor points at.
const (
	MediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaOCIConfig      = "application/vnd.oci.image.config.v1+json"
	MediaOCILayer       = "application/vnd.oci.image.layer.v1.tar"
	MediaOCILayerGzip   = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaOCILayerZstd   = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaDockerConfig   = "application/vnd.docker.container.image.v1+json"
	MediaDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// Descriptor points at a blob by digest: a manifest, a config, a layer.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Platform says which machine a manifest of an index is for.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

// Manifest is one image: its config and its layers, bottom first.
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Index lists manifests, one per platform (a "manifest list" in Docker's
// words), or, in an image layout, the images it holds.
type Index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Manifests     []Descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Config is the image's configuration: how to run it, the diff ids of its
// layers (the sha256 of each layer's uncompressed tar, bottom first), and
// how each layer was made (History). mini reads it to run an image, and
// writes it when it makes one (mini commit, mini build).
type Config struct {
	Created      *time.Time `json:"created,omitempty"`
	Author       string     `json:"author,omitempty"`
	Architecture string     `json:"architecture"`
	OS           string     `json:"os"`
	Variant      string     `json:"variant,omitempty"`
	Config       RunConfig  `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []History `json:"history,omitempty"`
}

// Clone is a deep copy of c, for mini build and mini commit to change.
func (c *Config) Clone() *Config {
	data, _ := json.Marshal(c) // a Config always encodes
	var out Config
	json.Unmarshal(data, &out)
	return &out
}

// CompleteHistory gives each layer that the history does not account for
// (an image made by a tool that writes no history) an entry, at the
// start: mini history pairs the entries that are not EmptyLayer with the
// layers, in order, and a build adds one entry per step.
func (c *Config) CompleteHistory() {
	n := 0
	for _, h := range c.History {
		if !h.EmptyLayer {
			n++
		}
	}
	if missing := len(c.RootFS.DiffIDs) - n; missing > 0 {
		c.History = append(make([]History, missing), c.History...)
	}
}

// RunConfig is the config's "config": what a container of the image runs,
// as docker's Dockerfile instructions set it (CMD, ENV, WORKDIR ...).
type RunConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	// Docker's own, beyond the OCI spec's: mini does not use them, but an
	// image built on a base keeps the base's, as docker build does.
	Healthcheck json.RawMessage `json:"Healthcheck,omitempty"`
	OnBuild     []string        `json:"OnBuild,omitempty"`
	Shell       []string        `json:"Shell,omitempty"`
	ArgsEscaped bool            `json:"ArgsEscaped,omitempty"`
}

// History is one step of how the image was made, bottom first: one per
// layer, and one per step that changed only the config (EmptyLayer).
// docker history lists them.
type History struct {
	Created    *time.Time `json:"created,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Author     string     `json:"author,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	EmptyLayer bool       `json:"empty_layer,omitempty"`
}

// Annotations of an index's descriptor that name the image (image-spec
// annotations.md; containerd's, which docker save writes too).
const (
	AnnotationRefName   = "org.opencontainers.image.ref.name"
	AnnotationImageName = "io.containerd.image.name"
)

// IsManifest and IsIndex tell the two kinds of document apart.
func IsManifest(mediaType string) bool {
	return mediaType == MediaOCIManifest || mediaType == MediaDockerManifest
}

func IsIndex(mediaType string) bool {
	return mediaType == MediaOCIIndex || mediaType == MediaDockerList
}

// ParseManifest reads a manifest and checks what mini relies on: a config
// and layers it can unpack, each named by a sha256 digest.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("manifest: schema version %d, want 2 (schema 1 is long gone from docker too)", m.SchemaVersion)
	}
	if m.MediaType != "" && !IsManifest(m.MediaType) {
		return nil, fmt.Errorf("manifest: media type %q is not an image manifest", m.MediaType)
	}
	if err := checkDigest(m.Config.Digest); err != nil {
		return nil, fmt.Errorf("manifest: config: %w", err)
	}
	for _, l := range m.Layers {
		if err := checkDigest(l.Digest); err != nil {
			return nil, fmt.Errorf("manifest: layer: %w", err)
		}
		if Compression(l.MediaType) == "" {
			return nil, fmt.Errorf("manifest: layer %s has media type %q, which is not a tar, tar+gzip or tar+zstd layer", Short(l.Digest), l.MediaType)
		}
	}
	return &m, nil
}

// ParseConfig reads an image config and checks its diff ids against the
// manifest's layers: one each.
func ParseConfig(data []byte, m *Manifest) (*Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	if len(c.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image config: %d diff ids for %d layers", len(c.RootFS.DiffIDs), len(m.Layers))
	}
	for _, d := range c.RootFS.DiffIDs {
		if err := checkDigest(d); err != nil {
			return nil, fmt.Errorf("image config: diff id: %w", err)
		}
	}
	return &c, nil
}

// Compression says how a layer of this media type is compressed: "none",
// "gzip" or "zstd"; "" for what is not a layer mini can unpack.
func Compression(mediaType string) string {
	switch mediaType {
	case MediaOCILayer, "application/vnd.docker.image.rootfs.diff.tar":
		return "none"
	case MediaOCILayerGzip, MediaDockerLayer:
		return "gzip"
	case MediaOCILayerZstd:
		return "zstd"
	}
	return ""
}

// Hex is a sha256 digest's hex part: the name of its file in the store.
func Hex(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

// Short is a digest as docker prints an image id or a layer: 12 hex digits.
func Short(digest string) string {
	h := Hex(digest)
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// ParseIndex reads an image index (a manifest list).
func ParseIndex(data []byte) (*Index, error) {
	var ix Index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("image index: %w", err)
	}
	if ix.SchemaVersion != 2 {
		return nil, fmt.Errorf("image index: schema version %d, want 2", ix.SchemaVersion)
	}
	for _, d := range ix.Manifests {
		if err := checkDigest(d.Digest); err != nil {
			return nil, fmt.Errorf("image index: %w", err)
		}
	}
	return &ix, nil
}

// ChoosePlatform picks from an index the image for Linux on arch (GOARCH
// names, which are the OCI spec's: amd64, arm64, ...), as docker pull does
// for the machine it runs on. Entries without a platform are not images
// (build attestations list "unknown/unknown").
func ChoosePlatform(ix *Index, arch string) (Descriptor, error) {
	var have []string
	for _, d := range ix.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.OS == "linux" && d.Platform.Architecture == arch {
			return d, nil
		}
		p := d.Platform.OS + "/" + d.Platform.Architecture
		if d.Platform.Variant != "" {
			p += "/" + d.Platform.Variant
		}
		have = append(have, p)
	}
	if len(have) == 0 {
		return Descriptor{}, fmt.Errorf("the image index lists no platform: no image for linux/%s in it", arch)
	}
	return Descriptor{}, fmt.Errorf("no image for linux/%s in the index (it has %s)", arch, strings.Join(have, ", "))
}
