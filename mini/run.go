package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"mini/steps"
)

// defaultPath is docker's PATH for a container whose image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// stepFlags says which step each flag needs: "--memory needs step 7".
// Flags not listed work at every step.
var stepFlags = map[string]int{
	"hostname":   1,
	"init":       2,
	"volume":     3,
	"uidmap":     5,
	"gidmap":     5,
	"net":        6,
	"publish":    6,
	"subnet":     6,
	"bridge":     6,
	"memory":     7,
	"cpus":       7,
	"pids-limit": 7,
	// Step 9: security.
	"cap-add":      9,
	"cap-drop":     9,
	"security-opt": 9,
	"privileged":   9,
}

// runFlags declares mini run's flags on fs, writing into spec. The names are
// docker's wherever docker has one.
func runFlags(fs *pflag.FlagSet, spec *steps.Spec, stepArg *string) {
	fs.StringVar(stepArg, "step", strconv.Itoa(maxStep()), "run steps 1..N (0: no isolation at all)")
	fs.StringVar(&spec.Hostname, "hostname", "", "container hostname (default: the container id)")
	fs.StringVar(&spec.Name, "name", "", "container name (default: the container id)")
	listFlag(fs, &spec.Env, "env", "e", "set an environment variable, KEY=VALUE (KEY alone: the host's value)")
	fs.StringVarP(&spec.Dir, "workdir", "w", "/", "working directory of the command")
	fs.StringVarP(&spec.User, "user", "u", "", "USER[:GROUP] to run the command as: names from the container's /etc/passwd and /etc/group, or numbers")
	fs.StringVar(&spec.Root, "root", defaultRoot(), rootUsage)
	fs.BoolVar(&spec.Trace, "trace", false, "print every action of every step, host and child side")
	fs.Bool("lab", false, "run your lab/NN version of step N (--step N) in place of mini's; $"+labEnv+"=N does it too")
	listFlag(fs, &spec.VolumeFlag, "volume", "v", "bind mount HOST:CONTAINER[:ro]")
	listFlag(fs, &spec.UIDMapFlag, "uidmap", "", "CONTAINER:HOST:SIZE uid map of the user namespace")
	listFlag(fs, &spec.GIDMapFlag, "gidmap", "", "CONTAINER:HOST:SIZE gid map of the user namespace")
	fs.StringVar(&spec.Net, "net", "bridge", "network: bridge, none, host or container:NAME")
	listFlag(fs, &spec.Publish, "publish", "p", "publish a port, [IP:]HOSTPORT:CONTAINERPORT[/tcp|/udp] (bridge mode)")
	fs.StringVar(&spec.Subnet, "subnet", envOr("MINI_SUBNET", "10.89.0.0/24"), "subnet of the bridge network ($MINI_SUBNET, else 10.89.0.0/24)")
	fs.StringVar(&spec.Bridge, "bridge", envOr("MINI_BRIDGE", "mini0"), "name of the host bridge ($MINI_BRIDGE, else mini0)")
	fs.StringVarP(&spec.Memory, "memory", "m", "", "memory limit, e.g. 64m or 1g")
	fs.StringVar(&spec.CPUs, "cpus", "", "CPU limit in CPUs, e.g. 0.5")
	fs.StringVar(&spec.PidsLimit, "pids-limit", "", "most processes the container may have")
	fs.BoolVar(&spec.Remove, "rm", false, "remove the container when it exits: its state, and from step 8 its layers")
	fs.BoolVar(&spec.Init, "init", false, "run mini as PID 1: it forwards signals to the command and reaps zombies (docker's --init)")
	listFlag(fs, &spec.CapAdd, "cap-add", "", "add a capability to docker's default 14 (NET_ADMIN, CAP_SYS_TIME; ALL)")
	listFlag(fs, &spec.CapDrop, "cap-drop", "", "drop a capability (NET_RAW; ALL)")
	listFlag(fs, &spec.SecurityOpt, "security-opt", "", "no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json, systempaths=unconfined")
	fs.BoolVar(&spec.Privileged, "privileged", false, "every capability, no seccomp filter, no masked or read-only paths")
	imageRunFlags(fs)
	lifeFlags(fs)
}

func runMain(args []string) int {
	var opts lifeOptions
	spec, err := parseRunID(args, "", &opts)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mini: %v\n", oneLine(err))
		return 125
	}
	runner := runContainer
	if spec.Step == 0 && spec.Lab == everyLab {
		runner = func(_ []string, spec *steps.Spec, opts lifeOptions) (int, error) { return runLab00(spec, opts) }
	}
	code, err := runner(args, spec, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mini: %v\n", oneLine(err))
	}
	return code
}

// parseRun turns "mini run" arguments into a spec, checking everything that
// can be checked without touching the system.
func parseRun(args []string) (*steps.Spec, error) {
	return parseRunID(args, "", &lifeOptions{})
}

// parseRunID is parseRun for a container whose id is id (a new one if
// empty), which also returns the options that are mini's and not the
// container's (-d, --log-opt: lifeOptions).
func parseRunID(args []string, id string, opts *lifeOptions) (*steps.Spec, error) {
	spec := &steps.Spec{}
	var stepArg string
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() { printRunHelp(os.Stdout, fs) }
	// Flags after IMAGE belong to the command: mini run img ls -l.
	fs.SetInterspersed(false)
	runFlags(fs, spec, &stepArg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err // pflag has printed the usage (fs.Usage)
		}
		return nil, fmt.Errorf("run: %v (see 'mini help run')", err)
	}

	n, err := strconv.Atoi(stepArg)
	if err != nil || n < 0 || n > maxStep() {
		return nil, fmt.Errorf("--step %q: want a number from 0 to %d", stepArg, maxStep())
	}
	spec.Step = n
	lab, _ := fs.GetBool("lab")
	if spec.Lab, err = labNumber(lab, n); err != nil {
		return nil, err
	}
	var err2 error
	fs.Visit(func(f *pflag.Flag) {
		need, ok := stepFlags[f.Name]
		if !ok || need <= n || err2 != nil {
			return
		}
		err2 = fmt.Errorf("--%s needs step %d (%s), but --step is %d: use --step %d or higher", f.Name, need, stepName(need), n, need)
		if need > maxStep() {
			err2 = fmt.Errorf("--%s needs step %d, which this build of mini does not have yet", f.Name, need)
		}
	})
	if err2 != nil {
		return nil, err2
	}
	if n < 6 {
		spec.Net = "" // no network namespace: the host's network
	}

	if fs.NArg() == 0 {
		return nil, errors.New("run: missing IMAGE: mini run [flags] IMAGE [COMMAND [ARG...]] (try rootfs/busybox)")
	}
	spec.Args = fs.Args()[1:]
	imageEnv, err := setImage(fs, spec, fs.Arg(0))
	if err != nil {
		return nil, err
	}
	if spec.Args[0] == "" {
		return nil, errors.New("run: the COMMAND is empty")
	}
	if err := steps.CheckUser(spec.User); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(spec.Dir) {
		return nil, fmt.Errorf("-w %q: the working directory must be an absolute path", spec.Dir)
	}
	if spec.Root, err = filepath.Abs(spec.Root); err != nil {
		return nil, fmt.Errorf("--root: %w", err)
	}

	if err := opts.parse(fs, spec); err != nil {
		return nil, err
	}
	if spec.ID = id; id == "" {
		if spec.ID, err = newID(); err != nil {
			return nil, err
		}
	}
	if spec.Name == "" {
		spec.Name = spec.ID
	} else if err := checkName(spec.Name); err != nil {
		return nil, err
	}
	if spec.Hostname == "" {
		spec.Hostname = spec.ID // docker's default: the short container id
	}
	spec.Rootless = os.Geteuid() != 0
	if spec.Env, err = makeEnv(imageEnv, spec.Env, spec.Hostname); err != nil {
		return nil, err
	}
	spec.Env = opts.env(spec.Env)
	if err := checkLab(spec); err != nil {
		return nil, err
	}
	return spec, nil
}

// checkName applies docker's rule for container names: a letter or digit,
// then letters, digits, '_', '.' and '-'. The name goes into the container's
// /etc/hosts (step 8), where a space or a '#' would break the line.
func checkName(name string) error {
	ok := len(name) >= 2 && len(name) <= 128
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("--name %q: use 2 to 128 letters, digits, '_', '.' and '-', starting with a letter or digit (docker's rule)", name)
	}
	return nil
}

// makeEnv builds the command's environment as docker does: PATH and
// HOSTNAME, then the image's Env, then -e in order (a later one wins). HOME
// comes last, from the user the child becomes, unless -e or the image sets
// it (steps.SwitchUser).
func makeEnv(imageEnv, flags []string, hostname string) ([]string, error) {
	env := []string{defaultPath, "HOSTNAME=" + hostname}
	for _, kv := range imageEnv {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env = setEnv(env, k, v)
		}
	}
	return addEnv(env, flags)
}

// addEnv applies -e flags to env, in order (a later one wins).
func addEnv(env, flags []string) ([]string, error) {
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" || strings.ContainsAny(k, " \t\n") {
			return nil, fmt.Errorf("-e %q: want KEY=VALUE with a non-empty KEY without spaces", kv)
		}
		if !ok {
			val, found := os.LookupEnv(k)
			if !found {
				continue // docker drops a KEY the host does not have
			}
			v = val
		}
		env = setEnv(env, k, v)
	}
	return env, nil
}

func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// newID is 12 random hex digits, like docker's short container id, from
// getrandom(2): an id needs no more than the kernel's random bytes, and
// without crypto/rand and what it brings mini starts faster (twice a run).
func newID() (string, error) {
	b := make([]byte, 6)
	if _, err := unix.Getrandom(b, 0); err != nil {
		return "", fmt.Errorf("getrandom: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func stepName(n int) string {
	for _, s := range allSteps {
		if s.Number() == n {
			return s.Name()
		}
	}
	return "?"
}

// oneLine keeps an error on one line, as every mini error is.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// envOr is the default of a flag that an environment variable may set
// ($MINI_ROOT, $MINI_BRIDGE, $MINI_SUBNET), so a test or a workshop can keep
// its state, bridge and subnet apart without repeating the flags.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
