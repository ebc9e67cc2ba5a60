#!/bin/sh
# conformance.sh [RUNTIME...]: the OCI runtime-tools validation tests, the
# field's conformance suite, run against each runtime side by side (default:
# mini, runc and crun, those installed), one line per test file with each
# runtime's result, then how many files each passed. Run as root: make
# conformance. See docs/oci.md.
#
# Debian 12's crun (1.8.1) fails nearly every test on a host like the one
# this was written on, before it runs anything: it refuses the ociVersion
# 1.3.0 these tests write ("unknown version specified"), and a host with
# cgroup v1 hierarchies beside a cgroup2 mount ("cgroups in hybrid mode
# not supported"). See docs/oci.md for the figures.
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

# The runtimes, each by its absolute path: RUNTIME=mini would find the
# installed one, not this checkout's.
paths=""
for r in "$@"; do
	case "$r" in
	mini) p="$dir/bin/mini" ;;
	*) p=$(command -v "$r") || die "no $r on PATH" ;;
	esac
	[ -x "$p" ] || die "$p is not there: make build"
	paths="$paths $p"
done

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
	echo "$r: $(wc -l <"$work/passed-$i") of $total test files pass"
done
