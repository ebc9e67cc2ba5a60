package steps

import "fmt"

// Spec is everything the container is: what the user asked for (flags) and
// what steps decided on the host (addresses, paths). The host fills it in,
// then sends it to the child as JSON on the spec pipe (fd 3), so the child
// sees exactly what the host decided.
//
// Fields are grouped by the step that reads them. A step writes only its own
// fields; later steps may read earlier steps' results (step 8 writes the
// container's address, chosen by step 6, into /etc/hosts).
type Spec struct {
	// Engine (step 0).
	ID    string `json:"id"`    // 12 hex digits, random
	Name  string `json:"name"`  // --name, or the ID
	Step  int    `json:"step"`  // --step: run steps 1..Step
	Image string `json:"image"` // IMAGE as the user named it: a directory's absolute path, or an image name
	// ImageID is the id of the stored image IMAGE names (sha256 of its
	// config); "" for a directory. mini rmi refuses an image a container's
	// state names.
	ImageID string `json:"image_id,omitempty"`
	// Layers are the image's read-only layers, topmost first: the image
	// directory itself, or the layers the image store unpacked (mini/image).
	// Step 8 stacks them under the container's own layers; before step 8
	// the container's / is a one-layer image's only layer.
	Layers []string `json:"layers"`
	Args   []string `json:"args"`  // the command and its arguments
	Env    []string `json:"env"`   // KEY=VALUE, PATH and HOSTNAME included
	Dir    string   `json:"dir"`   // -w: working directory of the command
	Root   string   `json:"root"`  // --root: mini's state directory
	Trace  bool     `json:"trace"` // --trace: print every action
	// OnStart, if set, is called on the host once the command runs (the
	// child reached execve(2), fd 4 closed), with the container's pid:
	// mini/container records it, and run -d returns then. Not sent.
	OnStart func(pid int) `json:"-"`

	// User is --user USER[:GROUP], resolved by the child in the container's
	// own /etc/passwd and /etc/group (identity.go); "" keeps the container's
	// root. A process attribute, not a namespace: it works at every step.
	User string `json:"user"`

	// Rootless is true when mini itself runs as a non-root user.
	Rootless bool `json:"rootless"`

	// Lab is the step whose learner's version (lab/NN-name) runs in place of
	// the reference one: --lab (then it is Step) or $MINI_LAB; 0 for none,
	// -1 for every lab ($MINI_LAB=all, and lab 00 at --step 0).
	// It travels in the spec so the child runs the same steps as the host.
	Lab int `json:"lab"`

	// Step 1: UTS namespace.
	Hostname string `json:"hostname"`

	// Step 2: PID namespace.
	Init bool `json:"init"` // --init: mini itself is PID 1 and starts the command

	// Step 3: mount namespace.
	// Rootfs is the directory pivot_root enters: the image, unless a later
	// step (8) builds another tree and sets it in Prepare.
	Rootfs     string   `json:"rootfs"`
	VolumeFlag []string `json:"-"`       // -v HOST:CONTAINER[:ro], as given
	Volumes    []Volume `json:"volumes"` // set by step 3 from VolumeFlag

	// Step 5: user namespace.
	UIDMapFlag []string `json:"-"`       // --uidmap CONTAINER:HOST:SIZE, as given
	GIDMapFlag []string `json:"-"`       // --gidmap
	UIDMap     []IDMap  `json:"uid_map"` // set by step 5: container id -> host id ranges
	GIDMap     []IDMap  `json:"gid_map"`

	// Step 6: network.
	Net     string   `json:"net"`   // --net bridge|none|host|container:ID
	Publish []string `json:"-"`     // -p [IP:]HOSTPORT:CONTAINERPORT[/PROTO], as given
	Ports   []Port   `json:"ports"` // set by step 6's Validate from Publish
	// NetJoin is, with --net container:NAME, the init of the container
	// whose network namespace this one joins: mini finds it (mini/container).
	NetJoin Owner  `json:"net_join"`
	Subnet  string `json:"subnet"` // --subnet, CIDR of the bridge network
	Bridge  string `json:"bridge"` // --bridge, host bridge name
	// Set by step 6 on the host for the child and for step 8.
	IP      string `json:"ip"`      // container address in CIDR form, "" without one
	Gateway string `json:"gateway"` // bridge address, the default route
	IfName  string `json:"ifname"`  // the container's end of the veth pair: eth0
	// The bridge's interface index, on the host only: found by Validate if
	// the bridge is ready, else by Prepare, which makes it under the lease
	// lock; Attach attaches the veth to it.
	BridgeIndex int `json:"-"`

	// Step 7: cgroups, as given on the command line; step 7 parses them.
	// Flags stay on the host: the child gets what they were parsed into.
	Memory    string `json:"-"` // -m: 64m, 1g
	CPUs      string `json:"-"` // --cpus: 0.5
	PidsLimit string `json:"-"` // --pids-limit: 20
	// Set by step 7's Validate from the flags; 0 means no limit.
	MemoryLimit int64 `json:"memory_limit"` // bytes
	CPUQuota    int64 `json:"cpu_quota"`    // µs of CPU time the container may use per CPUPeriod
	CPUPeriod   int64 `json:"cpu_period"`   // µs
	PidsMax     int64 `json:"pids_max"`     // most tasks (processes and threads)
	// Set by step 7's Prepare on cgroup v1: the tasks files the child
	// writes "0" to, to join its cgroup.
	CgroupTasks []PassedFile `json:"cgroup_tasks"`

	// Step 8: overlay.
	Remove bool `json:"remove"` // --rm: delete the container's layers after exit
	// Set by step 8 on the host: whether the image's layers are idmapped
	// mounts (else shifted copies, or the caller's own files when
	// rootless), and the files it sends the child at the barrier
	// (Context.SendFile): the container's directory as the child's mount
	// namespace has it, and a mount of each image layer, top first.
	Idmap      bool  `json:"idmap"`
	DirFile    int   `json:"dir_file"`
	LowerFiles []int `json:"lower_files"`

	// Step 9: security, as given on the command line; step 9 parses them.
	CapAdd      []string `json:"-"`          // --cap-add
	CapDrop     []string `json:"-"`          // --cap-drop
	SecurityOpt []string `json:"-"`          // --security-opt
	Privileged  bool     `json:"privileged"` // --privileged
	// Set by step 9's Validate.
	Caps            []string `json:"caps"`              // bounding, permitted and effective sets; every one with Privileged
	NoNewPrivileges bool     `json:"no_new_privileges"` // prctl(PR_SET_NO_NEW_PRIVS)
	Seccomp         []byte   `json:"seccomp"`           // the BPF filter, struct sock_filter[] as seccomp(2) takes it; nil: none
	SeccompFlags    uint     `json:"seccomp_flags"`     // SECCOMP_FILTER_FLAG_*, from the profile
	Unmasked        bool     `json:"unmasked"`          // no masked or read-only paths in /proc and /sys

	// Not a step: -t, a pseudo-terminal for the command (mini/terminal).
	Tty   bool `json:"tty"`
	TtyFD int  `json:"tty_fd"` // the child's end of the socket it sends the master on

	// Not a step: mini create (mini/oci). WaitStart holds the child, its
	// Init hooks done, just before its command until Engine.Exec; StartFD
	// is the pipe it waits on. OCI is what a config.json asks beyond mini
	// run's flags (oci.go); nil for mini run.
	WaitStart bool `json:"wait_start,omitempty"`
	StartFD   int  `json:"start_fd,omitempty"`
	OCI       *OCI `json:"oci,omitempty"`
}

// PassedFile is a file the host opened and the child inherits
// (Context.PassFile): its fd number in the child, and what it is.
type PassedFile struct {
	FD   int    `json:"fd"`
	Path string `json:"path"`
}

// Volume is a bind mount from the host into the container.
type Volume struct {
	Source   string `json:"source"` // absolute host path
	Target   string `json:"target"` // absolute path inside the container
	ReadOnly bool   `json:"read_only"`
}

// IDMap maps Size ids starting at ContainerID onto HostID.. in the parent
// user namespace, one line of /proc/PID/uid_map.
type IDMap struct {
	ContainerID int `json:"container_id"`
	HostID      int `json:"host_id"`
	Size        int `json:"size"`
}

// ValidID says whether id has the shape of a container id mini makes: 12
// to 64 lowercase hex digits. Steps check it on ids read back from --root
// (a lease, a cgroup record) before they act on what the id names: a veth,
// a cgroup.
func ValidID(id string) bool {
	if len(id) < 12 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// OwnRoot says whether the container has a root filesystem of its own:
// from step 3 (mount namespace and pivot_root) on.
func (s *Spec) OwnRoot() bool { return s.Step >= 3 }

// RootUID is the host uid the container's root is, the uid that must own
// whatever the container has to write (its /dev, its rw layer). It is 0
// without a user namespace.
func (s *Spec) RootUID() int { return hostID(s.UIDMap, 0) }

// RootGID is RootUID for groups.
func (s *Spec) RootGID() int { return hostID(s.GIDMap, 0) }

// HostUID is the host uid the container's uid is, through the uid map; an
// id the map leaves out stays as it is.
func (s *Spec) HostUID(uid int) int { return hostID(s.UIDMap, uid) }

// HostGID is HostUID for groups.
func (s *Spec) HostGID(gid int) int { return hostID(s.GIDMap, gid) }

// UserNS says whether the container has a user namespace of its own (step
// 5, or a rootless run): then it has maps. Known once step 5 has validated.
func (s *Spec) UserNS() bool { return len(s.UIDMap) > 0 }

// RootRemapped says, before any step has run, whether the container's root
// will be another host uid than the caller's: from step 5 (user
// namespace) on, and in a rootless run at every step.
func (s *Spec) RootRemapped() bool { return s.Step >= 5 || s.Rootless }

// OwnLayers says whether the container's / is layers of its own, stacked
// by overlayfs: from step 8 (overlay) on.
func (s *Spec) OwnLayers() bool { return s.Step >= 8 }

func hostID(maps []IDMap, id int) int {
	for _, m := range maps {
		if id >= m.ContainerID && id < m.ContainerID+m.Size {
			return m.HostID + id - m.ContainerID
		}
	}
	return id
}

// Port is a published port (-p): connections to HostIP:HostPort on the host
// go to the container's ContainerPort.
type Port struct {
	HostIP        string `json:"host_ip"` // 0.0.0.0: every address of the host
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Proto         string `json:"proto"` // tcp or udp
}

// String spells a port as docker ps does: 0.0.0.0:8080->80/tcp.
func (p Port) String() string {
	return fmt.Sprintf("%s:%d->%d/%s", p.HostIP, p.HostPort, p.ContainerPort, p.Proto)
}
