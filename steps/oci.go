package steps

import "encoding/json"

// OCI is what an OCI runtime config (config.json) asks of a container that
// mini run's flags cannot say: mini create translates a config into a Spec
// and this (mini/oci/config.go), and each step reads the part that is its
// own mechanism. It is nil for mini run; its methods are safe on nil, so a
// step asks without checking.
//
// Fields are grouped, as Spec's, by the step that reads them.
type OCI struct {
	// Engine and mini/oci: the container as its caller knows it.
	ID          string            `json:"id"`     // the caller's name for it (runc's container id)
	Bundle      string            `json:"bundle"` // the bundle directory, absolute
	Annotations map[string]string `json:"annotations,omitempty"`
	// Pid is the container's init as the host numbers it, set by mini/oci's
	// step in Attach, for the hooks' state that the child runs.
	Pid int `json:"pid,omitempty"`

	// Namespaces are the kinds the config lists (uts, pid, mnt, ipc, user,
	// net, cgroup): only their steps make one. Join maps a kind to the
	// path of an existing namespace to join instead of making a new one.
	Namespaces []string          `json:"namespaces"`
	Join       map[string]string `json:"join,omitempty"`

	// Step 1.
	Domainname string `json:"domainname,omitempty"`

	// Step 3: the mounts, in order, in place of mini's own /proc, /sys and
	// /dev (and step 4's /dev/shm and /dev/mqueue); the device nodes to
	// make in /dev beside the defaults; / read-only; the propagation of
	// /; and --no-pivot (MS_MOVE and chroot, for a / on a ramfs).
	// MountsFD is, in the child of a container without a mount namespace
	// (InheritsMounts), the record its mounts are written to before each
	// is made (steps/03-mount/hostns.go).
	Mounts          []MountEntry `json:"mounts"`
	Devices         []Device     `json:"devices,omitempty"`
	RootReadonly    bool         `json:"root_readonly,omitempty"`
	RootPropagation string       `json:"root_propagation,omitempty"`
	NoPivot         bool         `json:"no_pivot,omitempty"`
	MountsFD        int          `json:"mounts_fd,omitempty"`

	// Step 7: where the cgroup goes (cgroupsPath: absolute from each
	// hierarchy's root, relative from where mini puts its own), and the
	// limits mini run has no flag for.
	CgroupsPath       string       `json:"cgroups_path,omitempty"`
	CPUShares         uint64       `json:"cpu_shares,omitempty"`
	CPUSetCPUs        string       `json:"cpuset_cpus,omitempty"`
	CPUSetMems        string       `json:"cpuset_mems,omitempty"`
	MemoryReservation int64        `json:"memory_reservation,omitempty"`
	MemorySwap        int64        `json:"memory_swap,omitempty"` // memory+swap; -1: unlimited swap
	Swappiness        *uint64      `json:"swappiness,omitempty"`
	DisableOOMKiller  bool         `json:"disable_oom_killer,omitempty"`
	DeviceRules       []DeviceRule `json:"device_rules,omitempty"`

	// Step 9: the five capability sets (nil: Spec.Caps for all but the
	// inheritable and ambient ones, as for mini run), the seccomp profile
	// as the config gives it (step 9 compiles it; nil: none), and the
	// masked and read-only paths (in place of docker's).
	Caps          *CapSets `json:"caps,omitempty"`
	Seccomp       []byte   `json:"seccomp_profile,omitempty"` // the config's linux.seccomp, JSON
	MaskedPaths   []string `json:"masked_paths"`
	ReadonlyPaths []string `json:"readonly_paths"`

	// Not a step: process attributes and hooks, mini/oci's own step.
	AdditionalGids []int             `json:"additional_gids,omitempty"`
	Umask          *uint32           `json:"umask,omitempty"`
	Rlimits        []Rlimit          `json:"rlimits,omitempty"`
	OOMScoreAdj    *int              `json:"oom_score_adj,omitempty"`
	Sysctl         map[string]string `json:"sysctl,omitempty"`
	ConsoleSocket  string            `json:"console_socket,omitempty"`
	ConsoleSize    [2]uint           `json:"console_size,omitempty"` // height, width
	Hooks          []byte            `json:"hooks,omitempty"`        // the config's hooks, JSON
}

// MountEntry is one of a config's mounts, as given: step 3 turns the
// options into mount(2) flags and data.
type MountEntry struct {
	Source      string   `json:"source"`
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Options     []string `json:"options"`
}

// Device is a device node to make in the container's /dev (mknod(2)).
type Device struct {
	Path  string `json:"path"`
	Type  string `json:"type"` // c, b, u or p
	Major int64  `json:"major"`
	Minor int64  `json:"minor"`
	Mode  uint32 `json:"mode"`
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
}

// DeviceRule is one rule of the devices cgroup: whether the container may
// open (r, w) or make (m) the devices it names. Type a is every device;
// -1 is any major or minor.
type DeviceRule struct {
	Allow  bool   `json:"allow"`
	Type   string `json:"type"` // a, c or b
	Major  int64  `json:"major"`
	Minor  int64  `json:"minor"`
	Access string `json:"access"` // some of r, w, m
}

// CapSets are a process's five capability sets, names as capabilities(7)
// spells them.
type CapSets struct {
	Bounding    []string `json:"bounding"`
	Effective   []string `json:"effective"`
	Permitted   []string `json:"permitted"`
	Inheritable []string `json:"inheritable"`
	Ambient     []string `json:"ambient"`
}

// Rlimit is a resource limit (setrlimit(2)).
type Rlimit struct {
	Type string `json:"type"` // RLIMIT_NOFILE
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// Has says whether the config lists namespace kind (new or joined). A
// Spec without OCI has them all: its steps decide.
func (o *OCI) Has(kind string) bool {
	if o == nil {
		return true
	}
	for _, k := range o.Namespaces {
		if k == kind {
			return true
		}
	}
	return false
}

// NewNS says whether the step of namespace kind makes a new one: it is
// listed, without a path to join.
func (o *OCI) NewNS(kind string) bool { return o.Has(kind) && o.JoinPath(kind) == "" }

// JoinPath is the path of the namespace of kind to join, "" for none.
func (o *OCI) JoinPath(kind string) string {
	if o == nil {
		return ""
	}
	return o.Join[kind]
}

// InheritsMounts says whether the config lists no mount namespace, new
// or joined: the container is in the runtime's own, and its mounts are
// made there (step 3, hostns.go).
func (o *OCI) InheritsMounts() bool { return o != nil && !o.Has("mnt") }

// OwnMounts says whether the config gives the mounts: then steps 3 and 4
// make none of their own.
func (o *OCI) OwnMounts() bool { return o != nil }

// Domain is the config's domainname, "" for none.
func (o *OCI) Domain() string {
	if o == nil {
		return ""
	}
	return o.Domainname
}

// ociJSON is OCI without its methods, for MarshalJSON.
type ociJSON OCI

// MarshalJSON encodes the config's part of a spec. A method of its own
// keeps encoding/json from building its coder for every field of OCI, by
// reflection, in each mini that encodes a Spec without one (mini run's): it
// builds it only when there is a config to encode.
func (o *OCI) MarshalJSON() ([]byte, error) { return json.Marshal((*ociJSON)(o)) }
