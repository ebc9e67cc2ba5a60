#!/bin/sh
# conformance.sh [RUNTIME...]: the OCI runtime-tools validation tests, the
# field's conformance suite, run against each runtime side by side (default:
# mini, runc and crun, those installed), one line per test file with each
# runtime's result, then how many files each passed. Run as root: make
# conformance. See docs/oci.md.
#
# crun runs through a wrapper this script writes ($work/crun), so that it
# runs as well as it can here. Debian 12's crun (1.8.1) refuses, before it
# does anything, a host whose cgroup2 mount (/sys/fs/cgroup/unified) sits
# beside cgroup v1 hierarchies ("cgroups in hybrid mode not supported",
# however empty that cgroup2 is); so when that mount holds none of the
# controllers a container's limits use (they are all on v1), the wrapper
# runs crun in a private mount namespace of its own (unshare --mount
# --propagation private) with an empty tmpfs over it: crun then sees v1
# alone. And crun 1.8.1 knows runtime-spec 1.0 and 1.1 only: it refuses
# the ociVersion 1.3.0 these tests write ("unknown version specified"), so
# when crun --version says its spec is older than 1.2, the wrapper writes
# 1.1.0 in the bundle's config.json for create and run. What that costs
# crun: its containers live in the wrapper's mount namespace, not the
# test's (linux_ns_itype sees it). runc and mini run as they are. See
# docs/oci.md for the figures.
#
# Each test file (validation/NAME) is a program that writes a bundle,
# drives "$RUNTIME create/start/state/kill/delete" and prints TAP; it passes
# when it exits 0 and prints no "not ok" line. (A test fails with exit
# status 1 when the runtime cannot even do what it tests; a few print no
# TAP at all when the runtime does right, process_capabilities_fail for
# one, and a few only ever print a plan of 1..0, whatever the runtime
# does: the hooks tests.) The tests and
# runtimetest (which runs inside the containers) are built from one pinned
# commit of github.com/opencontainers/runtime-tools with go install: this
# needs the Go module proxy once, then the build cache.
#
# Environment: RTOOLS_VERSION (the module version), CONFORMANCE_ONLY (a
# regular expression of test names), CONFORMANCE_KEEP=1 (keep the logs).
set -eu

RTOOLS_VERSION=${RTOOLS_VERSION:-v0.9.1-0.20251205004911-5e639034dcdc}
module=github.com/opencontainers/runtime-tools
only=${CONFORMANCE_ONLY:-.}
dir=$(cd "$(dirname "$0")/.." && pwd)

die() {
	echo "conformance: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "the tests create containers: run me as root (sudo make conformance)"

# The runtimes: mini is this checkout's bin/mini.
if [ $# -eq 0 ]; then
	set -- mini
	command -v runc >/dev/null && set -- "$@" runc
	command -v crun >/dev/null && set -- "$@" crun
fi

work=$(mktemp -d /tmp/mini-conformance.XXXXXX)
# mini's state for the tests goes here, not in /run/mini.
export MINI_ROOT="$work/mini-root"
cleanup() {
	if [ "${CONFORMANCE_KEEP:-}" = 1 ]; then
		echo "conformance: logs kept in $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT INT TERM

# 1. The tests and runtimetest, built once into $work/bin (static: runtimetest
# runs inside the test image).
echo "conformance: building $module@$RTOOLS_VERSION (validation tests and runtimetest)" >&2
(
	cd "$work"
	export GOBIN="$work/bin" GOFLAGS=-mod=mod CGO_ENABLED=0
	go install "$module/validation/...@$RTOOLS_VERSION"
	go install "$module/cmd/runtimetest@$RTOOLS_VERSION"
) || die "go install failed (above: why): this step needs the Go module proxy, $(go env GOPROXY)"
src=$(go env GOMODCACHE)/$module@$RTOOLS_VERSION
arch=$(go env GOARCH)
[ -f "$src/rootfs-$arch.tar.gz" ] || die "no rootfs-$arch.tar.gz in $src: the tests bring their image for amd64 and 386 only"

# crunWrapper writes the wrapper crun runs through (see the top) to $1, for
# the crun at $2.
crunWrapper() {
	unified=/sys/fs/cgroup/unified
	isolate=no
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] &&
		[ "$(stat -f -c %T $unified 2>/dev/null)" = cgroup2fs ] &&
		! grep -qwE 'cpu|cpuset|io|memory|pids' $unified/cgroup.controllers; then
		isolate=yes
		echo "conformance: crun runs in a mount namespace of its own with a tmpfs over $unified (a cgroup2 with no container controller, beside v1)" >&2
	fi
	lower=no
	spec=$("$2" --version | sed -n 's/^spec: *//p')
	case "$spec" in
	1.0* | 1.1*)
		lower=yes
		echo "conformance: crun knows runtime-spec $spec: its wrapper writes ociVersion 1.1.0 in the tests' configs" >&2
		;;
	esac
	{
		echo '#!/bin/sh'
		echo '# crun as well as it can run here: written by scripts/conformance.sh (see there).'
		echo "crun=$2 isolate=$isolate lower=$lower"
		cat <<'WRAPPER'
if [ "$lower" = yes ]; then
	bundle=. prev= verb=
	for a in "$@"; do
		case "$prev" in --bundle | -b) bundle=$a ;; esac
		case "$a" in --bundle=*) bundle=${a#--bundle=} ;; create | run) verb=${verb:-$a} ;; esac
		prev=$a
	done
	if [ -n "$verb" ] && [ -f "$bundle/config.json" ]; then
		sed -i -E 's/"ociVersion": *"1\.([2-9]|[1-9][0-9])\.[^"]*"/"ociVersion":"1.1.0"/' "$bundle/config.json"
	fi
fi
if [ "$isolate" = yes ]; then
	exec unshare --mount --propagation private /bin/sh -c \
		'mount -t tmpfs -o size=4k,mode=755 conformance /sys/fs/cgroup/unified && exec "$0" "$@"' "$crun" "$@"
fi
exec "$crun" "$@"
WRAPPER
	} >"$1"
	chmod 755 "$1"
}

# The runtimes, each by its absolute path: RUNTIME=mini would find the
# installed one, not this checkout's; crun is its wrapper.
paths=""
for r in "$@"; do
	case "$r" in
	mini) p="$dir/bin/mini" ;;
	crun)
		c=$(command -v crun) || die "no crun on PATH"
		p="$work/crun"
		crunWrapper "$p" "$c"
		;;
	*) p=$(command -v "$r") || die "no $r on PATH" ;;
	esac
	[ -x "$p" ] || die "$p is not there: make build"
	paths="$paths $p"
done

# A runtime that fails a cgroup test may leave the test's cgroups behind,
# empty: /cgrouptest and testdir/cgrouptest/container (crun 1.8.1 does,
# after linux_cgroups_blkio and its relative twin); the next runtime would
# find them there, and mini refuses a cgroup that exists. They are removed
# after each run when they are empty, deepest first (rmdir(2) refuses a
# cgroup with a process or a child in it); testdir itself is left.
sweepCgroups() {
	for d in /sys/fs/cgroup/cgrouptest /sys/fs/cgroup/*/cgrouptest \
		/sys/fs/cgroup/testdir/cgrouptest/container /sys/fs/cgroup/*/testdir/cgrouptest/container \
		/sys/fs/cgroup/testdir/cgrouptest /sys/fs/cgroup/*/testdir/cgrouptest; do
		if [ -d "$d" ] && rmdir "$d" 2>/dev/null; then
			echo "$d" >>"$run/swept"
		fi
	done
}

# 2. Each test, under each runtime, in a directory of its own that holds
# what the test expects beside it: the image tarball and runtimetest.
printf '%-34s' TEST
for r in "$@"; do printf ' %-6s' "$r"; done
printf '\n'
tests=$(ls "$work/bin" | grep -v '^runtimetest$' | grep -E "$only")
for t in $tests; do
	printf '%-34s' "$t"
	i=0
	for p in $paths; do
		i=$((i + 1))
		name=$(echo "$@" | cut -d' ' -f$i)
		run="$work/run/$name/$t"
		mkdir -p "$run"
		ln -sf "$src/rootfs-$arch.tar.gz" "$run/rootfs-$arch.tar.gz"
		cp "$work/bin/runtimetest" "$run/runtimetest"
		code=0
		(cd "$run" && RUNTIME=$p timeout 300 "$work/bin/$t" >"$run/tap" 2>"$run/stderr") || code=$?
		echo "$code" >"$run/code"
		sweepCgroups
		if [ "$code" = 0 ] && ! grep -q '^not ok' "$run/tap"; then
			result=pass
			echo "$t" >>"$work/passed-$i"
		else
			result=FAIL
		fi
		printf ' %-6s' "$result"
	done
	printf '\n'
done

# 3. The totals, and which files a runtime fails that another passes.
total=$(echo "$tests" | wc -w)
i=0
for r in "$@"; do
	i=$((i + 1))
	touch "$work/passed-$i"
	sort -o "$work/passed-$i" "$work/passed-$i"
	echo "$r: $(wc -l <"$work/passed-$i") of $total test files pass"
done
# mini, when it is the first, beside each other runtime.
i=1
for r in $(echo "$@" | cut -d' ' -s -f2-); do
	i=$((i + 1))
	[ "$1" = mini ] || break
	echo "$r passes, mini fails: $(comm -13 "$work/passed-1" "$work/passed-$i" | tr '\n' ' ')"
	echo "mini passes, $r fails: $(comm -23 "$work/passed-1" "$work/passed-$i" | tr '\n' ' ')"
done
