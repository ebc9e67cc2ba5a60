// Package oci makes mini an OCI runtime: what runc is to containerd,
// podman and so Kubernetes. A bundle's config.json (the OCI runtime spec,
// github.com/opencontainers/runtime-spec) becomes the Spec mini run's
// flags would make, and the same steps run it, through the same engine: no
// second runtime. What the config asks that mini run cannot, mini's steps
// read from steps.OCI; a field mini does not do is an error that names it.
// See docs/oci.md.
package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"mini/steps"
)

// Load reads the bundle's config.json. Properties the spec does not know
// are ignored, as it says a runtime must (config.md, "Extensibility").
func Load(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the bundle's config: %w", err)
	}
	var cfg specs.Spec
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cfg, nil
}

// nsKinds maps the spec's namespace types to their names under
// /proc/PID/ns, which steps.OCI uses.
var nsKinds = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup",
}

// Translate turns config cfg of the bundle into the Spec of container id
// (the caller's name for it; mini's own id is hex) under root. Every field
// of the config is either mapped onto a step's, or refused by name.
func Translate(cfg *specs.Spec, bundle, id, hexID, root string) (*steps.Spec, error) {
	if !strings.HasPrefix(cfg.Version, "1.") {
		return nil, fmt.Errorf("ociVersion %q: mini runs configs of version 1 of the runtime spec (1.0.0 to %s)", cfg.Version, specs.Version)
	}
	if err := refuse(cfg); err != nil {
		return nil, err
	}
	o := &steps.OCI{ID: id, Bundle: bundle, Annotations: cfg.Annotations, Domainname: cfg.Domainname}
	spec := &steps.Spec{ID: hexID, Name: id, Step: 9, Root: root, Hostname: cfg.Hostname, Net: "none", OCI: o}
	if cfg.Root == nil || cfg.Root.Path == "" {
		return nil, errors.New("root.path: the config names no root filesystem")
	}
	rootfs := cfg.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("root.path %q: %s is not a directory", cfg.Root.Path, rootfs)
	}
	spec.Image, spec.Rootfs, spec.Layers = rootfs, rootfs, []string{rootfs}
	o.RootReadonly = cfg.Root.Readonly
	if err := process(cfg.Process, spec); err != nil {
		return nil, err
	}
	if cfg.Hooks != nil {
		if err := checkHooks(cfg.Hooks); err != nil {
			return nil, err
		}
		o.Hooks, _ = json.Marshal(cfg.Hooks)
	}
	if cfg.Linux == nil {
		return nil, errors.New("linux: the config has no linux section: mini runs Linux containers only")
	}
	if err := namespaces(cfg.Linux.Namespaces, o); err != nil {
		return nil, err
	}
	if cfg.Hostname != "" && !o.Has("uts") {
		return nil, errors.New("hostname: a hostname needs a UTS namespace: add {\"type\": \"uts\"} to linux.namespaces")
	}
	for _, m := range cfg.Mounts {
		list, err := mount(m, bundle)
		if err != nil {
			return nil, err
		}
		o.Mounts = append(o.Mounts, list...)
	}
	if err := linux(cfg.Linux, spec); err != nil {
		return nil, err
	}
	if err := hostMounts(o); err != nil {
		return nil, err
	}
	return spec, nil
}

// process maps process: the command, its environment, directory, user,
// capabilities, limits and terminal.
func process(p *specs.Process, spec *steps.Spec) error {
	o := spec.OCI
	if p == nil {
		return errors.New("process: the config has no process: mini create needs one to run")
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		return errors.New("process.args: empty: give the command to run")
	}
	if !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q: must be an absolute path", p.Cwd)
	}
	spec.Args, spec.Env, spec.Dir = p.Args, p.Env, p.Cwd
	spec.User = fmt.Sprintf("%d:%d", p.User.UID, p.User.GID)
	for _, g := range p.User.AdditionalGids {
		o.AdditionalGids = append(o.AdditionalGids, int(g))
	}
	o.Umask = p.User.Umask
	spec.NoNewPrivileges = p.NoNewPrivileges
	spec.Tty = p.Terminal
	if p.ConsoleSize != nil {
		o.ConsoleSize = [2]uint{p.ConsoleSize.Height, p.ConsoleSize.Width}
	}
	if c := p.Capabilities; c != nil {
		o.Caps = &steps.CapSets{Bounding: c.Bounding, Effective: c.Effective, Permitted: c.Permitted, Inheritable: c.Inheritable, Ambient: c.Ambient}
	}
	for _, r := range p.Rlimits {
		if _, ok := rlimits[r.Type]; !ok {
			return fmt.Errorf("process.rlimits: unknown type %q: see getrlimit(2) (RLIMIT_NOFILE ...)", r.Type)
		}
		if r.Soft > r.Hard {
			return fmt.Errorf("process.rlimits %s: the soft limit %d is above the hard limit %d", r.Type, r.Soft, r.Hard)
		}
		o.Rlimits = append(o.Rlimits, steps.Rlimit{Type: r.Type, Soft: r.Soft, Hard: r.Hard})
	}
	if p.OOMScoreAdj != nil {
		if *p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000 {
			return fmt.Errorf("process.oomScoreAdj %d: want -1000 to 1000 (proc(5))", *p.OOMScoreAdj)
		}
		o.OOMScoreAdj = p.OOMScoreAdj
	}
	return nil
}

// namespaces maps linux.namespaces: which steps make one, which join one
// by path.
func namespaces(list []specs.LinuxNamespace, o *steps.OCI) error {
	for _, ns := range list {
		kind, ok := nsKinds[ns.Type]
		if !ok {
			return fmt.Errorf("linux.namespaces: type %q: mini makes pid, network, mount, ipc, uts, user and cgroup namespaces", ns.Type)
		}
		if slices.Contains(o.Namespaces, kind) {
			return fmt.Errorf("linux.namespaces: %s is listed twice", ns.Type)
		}
		o.Namespaces = append(o.Namespaces, kind)
		if ns.Path == "" {
			continue
		}
		switch kind {
		case "user":
			return fmt.Errorf("linux.namespaces: user with a path (%s): mini makes a user namespace, it does not join one (setns(2) refuses CLONE_NEWUSER to a process with threads)", ns.Path)
		case "cgroup":
			return fmt.Errorf("linux.namespaces: cgroup with a path (%s): mini makes a cgroup namespace of the container's cgroup, it does not join one", ns.Path)
		}
		if !filepath.IsAbs(ns.Path) {
			return fmt.Errorf("linux.namespaces: %s path %q: must be an absolute path", ns.Type, ns.Path)
		}
		if o.Join == nil {
			o.Join = map[string]string{}
		}
		o.Join[kind] = ns.Path
	}
	return nil
}

// hostMounts checks a config that lists no mount namespace: the container
// is then in the runtime's own, its root entered with chroot(2) and its
// mounts made where the host sees them (steps/03-mount/hostns.go). What
// would act on the host's own mounts is refused.
func hostMounts(o *steps.OCI) error {
	const add = `add {"type": "mount"} to linux.namespaces`
	switch {
	case !o.InheritsMounts():
		return nil
	case o.Has("user"):
		return errors.New("linux.namespaces: a user namespace without a mount namespace: the container's root could not mount in the runtime's mount namespace, which is not its user namespace's; " + add)
	case o.RootReadonly:
		return errors.New("root.readonly without a mount namespace: the remount would make a mount of the host read-only; " + add)
	case o.RootPropagation != "":
		return fmt.Errorf("linux.rootfsPropagation %q without a mount namespace: it would change the propagation of a mount of the host; %s", o.RootPropagation, add)
	case len(o.MaskedPaths)+len(o.ReadonlyPaths) > 0:
		return errors.New("linux.maskedPaths and linux.readonlyPaths need a mount namespace of the container's own (runc refuses them alike): " + add + ", or drop them")
	}
	return nil
}

// mount maps one mount; a bind mount's relative source is the bundle's. A
// mount of type cgroup is the container's view of the cgroup hierarchies,
// which mini spells out (cgroupMounts).
func mount(m specs.Mount, bundle string) ([]steps.MountEntry, error) {
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return nil, fmt.Errorf("mounts: %s: uidMappings and gidMappings: mini makes no idmapped mounts from a config", m.Destination)
	}
	e := steps.MountEntry{Source: m.Source, Destination: m.Destination, Type: m.Type, Options: m.Options}
	if !filepath.IsAbs(e.Destination) {
		// runc takes a relative destination from / too.
		e.Destination = "/" + e.Destination
	}
	bind := e.Type == "bind" || slices.Contains(e.Options, "bind") || slices.Contains(e.Options, "rbind")
	if bind && !filepath.IsAbs(e.Source) {
		e.Source = filepath.Join(bundle, e.Source)
	}
	if e.Type == "cgroup" || e.Type == "cgroup2" && !bind {
		return cgroupMounts(e)
	}
	return []steps.MountEntry{e}, nil
}

// linux maps the rest of the linux section.
func linux(l *specs.Linux, spec *steps.Spec) error {
	o := spec.OCI
	if len(l.UIDMappings)+len(l.GIDMappings) > 0 && !o.Has("user") {
		return errors.New("linux.uidMappings: maps need a user namespace: add {\"type\": \"user\"} to linux.namespaces")
	}
	if o.Has("user") && (len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0) {
		return errors.New("linux.namespaces: a user namespace needs linux.uidMappings and linux.gidMappings")
	}
	for _, m := range l.UIDMappings {
		spec.UIDMap = append(spec.UIDMap, steps.IDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	for _, m := range l.GIDMappings {
		spec.GIDMap = append(spec.GIDMap, steps.IDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	for k, v := range l.Sysctl {
		if err := checkSysctl(k, o); err != nil {
			return err
		}
		if o.Sysctl == nil {
			o.Sysctl = map[string]string{}
		}
		o.Sysctl[k] = v
	}
	o.CgroupsPath = l.CgroupsPath
	if err := resources(l.Resources, spec); err != nil {
		return err
	}
	for _, d := range l.Devices {
		if !filepath.IsAbs(d.Path) || !strings.HasPrefix(filepath.Clean(d.Path), "/dev/") {
			return fmt.Errorf("linux.devices: %q: a device node goes under /dev", d.Path)
		}
		if !slices.Contains([]string{"c", "b", "u", "p"}, d.Type) {
			return fmt.Errorf("linux.devices %s: type %q: want c, b, u or p", d.Path, d.Type)
		}
		dev := steps.Device{Path: filepath.Clean(d.Path), Type: d.Type, Major: d.Major, Minor: d.Minor, Mode: 0o666}
		if d.FileMode != nil {
			dev.Mode = uint32(*d.FileMode)
		}
		if d.UID != nil {
			dev.UID = int(*d.UID)
		}
		if d.GID != nil {
			dev.GID = int(*d.GID)
		}
		o.Devices = append(o.Devices, dev)
	}
	if l.Seccomp != nil {
		o.Seccomp, _ = json.Marshal(l.Seccomp)
	}
	o.RootPropagation = l.RootfsPropagation
	o.MaskedPaths, o.ReadonlyPaths = clean(l.MaskedPaths), clean(l.ReadonlyPaths)
	return nil
}

// clean makes a non-nil list: an OCI container's paths are the config's,
// none if it lists none.
func clean(paths []string) []string {
	out := []string{}
	for _, p := range paths {
		out = append(out, filepath.Clean(p))
	}
	return out
}

// resources maps linux.resources onto step 7's fields.
func resources(r *specs.LinuxResources, spec *steps.Spec) error {
	if r == nil {
		return nil
	}
	o := spec.OCI
	for _, d := range r.Devices {
		rule := steps.DeviceRule{Allow: d.Allow, Type: d.Type, Major: -1, Minor: -1, Access: d.Access}
		if rule.Type == "" {
			rule.Type = "a"
		}
		if d.Major != nil {
			rule.Major = *d.Major
		}
		if d.Minor != nil {
			rule.Minor = *d.Minor
		}
		if rule.Access == "" {
			rule.Access = "rwm"
		}
		o.DeviceRules = append(o.DeviceRules, rule)
	}
	if len(o.DeviceRules) > 0 {
		// The nodes step 3 makes in every container stay usable, whatever
		// the rules deny: runc allows the same ones.
		o.DeviceRules = append(o.DeviceRules, defaultDevices...)
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit > 0 {
			spec.MemoryLimit = *m.Limit
		}
		if m.Reservation != nil && *m.Reservation > 0 {
			o.MemoryReservation = *m.Reservation
		}
		if m.Swap != nil && *m.Swap != 0 {
			o.MemorySwap = *m.Swap
		}
		o.Swappiness = m.Swappiness
		if m.Swappiness != nil && *m.Swappiness > 100 {
			o.Swappiness = nil // runc's reading of the spec's "-1": the kernel's default
		}
		o.DisableOOMKiller = m.DisableOOMKiller != nil && *m.DisableOOMKiller
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares > 0 {
			if *c.Shares < 2 || *c.Shares > 262144 {
				return fmt.Errorf("linux.resources.cpu.shares %d: want 2 to 262144", *c.Shares)
			}
			o.CPUShares = *c.Shares
		}
		if c.Quota != nil && *c.Quota > 0 {
			spec.CPUQuota, spec.CPUPeriod = *c.Quota, 100000
			if c.Period != nil && *c.Period > 0 {
				spec.CPUPeriod = int64(*c.Period)
			}
		} else if c.Period != nil && *c.Period > 0 {
			return errors.New("linux.resources.cpu.period without a quota: mini writes the two together; give a quota too")
		}
		o.CPUSetCPUs, o.CPUSetMems = c.Cpus, c.Mems
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		spec.PidsMax = *p.Limit
	}
	return nil
}

// defaultDevices are the nodes every container gets (steps/03-mount):
// null, zero, full, random, urandom, tty, and the terminals of its own
// devpts, allowed in the devices cgroup.
var defaultDevices = []steps.DeviceRule{
	{Allow: true, Type: "c", Major: 1, Minor: 3, Access: "rwm"},
	{Allow: true, Type: "c", Major: 1, Minor: 5, Access: "rwm"},
	{Allow: true, Type: "c", Major: 1, Minor: 7, Access: "rwm"},
	{Allow: true, Type: "c", Major: 1, Minor: 8, Access: "rwm"},
	{Allow: true, Type: "c", Major: 1, Minor: 9, Access: "rwm"},
	{Allow: true, Type: "c", Major: 5, Minor: 0, Access: "rwm"},
	{Allow: true, Type: "c", Major: 5, Minor: 1, Access: "rwm"},
	{Allow: true, Type: "c", Major: 5, Minor: 2, Access: "rwm"},
	{Allow: true, Type: "c", Major: 136, Minor: -1, Access: "rwm"},
}

// checkHooks checks each hook's path.
func checkHooks(h *specs.Hooks) error {
	for name, list := range map[string][]specs.Hook{
		"prestart": h.Prestart, "createRuntime": h.CreateRuntime, "createContainer": h.CreateContainer,
		"startContainer": h.StartContainer, "poststart": h.Poststart, "poststop": h.Poststop,
	} {
		for _, hook := range list {
			if !filepath.IsAbs(hook.Path) {
				return fmt.Errorf("hooks.%s: path %q: must be an absolute path", name, hook.Path)
			}
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				return fmt.Errorf("hooks.%s: %s: timeout %d: must be more than 0 seconds", name, hook.Path, *hook.Timeout)
			}
		}
	}
	return nil
}

// checkSysctl accepts the sysctls that belong to a namespace the container
// has of its own, as runc does: a write to any other would change the
// host's kernel.
func checkSysctl(key string, o *steps.OCI) error {
	ipc := []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
	switch {
	case slices.Contains(ipc, key) || strings.HasPrefix(key, "fs.mqueue."):
		if !o.NewNS("ipc") {
			return fmt.Errorf("linux.sysctl %s: it belongs to the IPC namespace, and the container has none of its own", key)
		}
	case strings.HasPrefix(key, "net."):
		if !o.Has("net") {
			return fmt.Errorf("linux.sysctl %s: it belongs to the network namespace, and the container has none of its own", key)
		}
	case key == "kernel.hostname" || key == "kernel.domainname":
		return fmt.Errorf("linux.sysctl %s: set hostname or domainname in the config instead", key)
	default:
		return fmt.Errorf("linux.sysctl %s: not a sysctl of a namespace: writing it would change the host's kernel", key)
	}
	if strings.ContainsAny(key, "/") || strings.Contains(key, "..") {
		return fmt.Errorf("linux.sysctl %q: not a sysctl name", key)
	}
	return nil
}
