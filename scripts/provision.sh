#!/bin/sh
# provision.sh [DIR]: install what mini needs and build it, on Debian 12 or
# Ubuntu 24.04. DIR is the mini checkout (default: the one holding this script).
# Run as root. The Vagrant box runs it at the first 'vagrant up', CI runs it
# before the tests, and you may run it on your own Linux machine. Safe to
# re-run: it installs only what is missing, so a second run takes seconds.
#
# What it does:
#  1. apt-get install the tools the steps and the tests use (busybox-static,
#     iproute2, iptables, make, git, ca-certificates; for the image tests a
#     registry server, docker-registry, and skopeo and podman to push and
#     read images; umoci for docs/images.md and make bench-image, attr for
#     its getfattr; buildah, whose images the build scenarios compare with
#     mini build's, and bzip2 and xz-utils for their archives), skipping apt
#     entirely when they are all installed;
#  2. find a Go toolchain at least as new as go.mod's "go" line; when there is
#     none, install one with apt (Debian 12: from bookworm-backports, on the
#     mirror apt already uses; Ubuntu: a golang-1.2x-go new enough) and link go and
#     gofmt into /usr/local/bin;
#  3. go mod download (so that the tests build offline later), make build
#     (bin/mini and bin/mini-image, left to the checkout's owner) and make
#     rootfs (rootfs/busybox, root's), and link /usr/local/bin/mini to
#     bin/mini.
set -eu

say() { echo "provision: $*"; }
die() {
	echo "provision: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run me as root: sudo sh $0 $*"
dir=${1:-$(cd "$(dirname "$0")/.." && pwd)}
[ -f "$dir/go.mod" ] && [ -f "$dir/Makefile" ] || die "$dir is not a mini checkout (no go.mod and Makefile); pass the checkout as the first argument"
dir=$(cd "$dir" && pwd)

export DEBIAN_FRONTEND=noninteractive
apt_updated=no
apt_update() {
	[ "$apt_updated" = yes ] && return 0
	say "apt-get update"
	apt-get -qq update
	apt_updated=yes
}
# apt_install PKG...: quiet, no recommends; dpkg's progress lines are dropped.
apt_install() {
	say "apt-get install $*"
	apt-get -qq -o Dpkg::Use-Pty=0 install -y --no-install-recommends "$@" >/dev/null
}
installed() { dpkg-query -W -f '${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

# --- 1. Debian packages ---------------------------------------------------
command -v apt-get >/dev/null && command -v dpkg-query >/dev/null ||
	die "this script uses apt: on another distribution install busybox (static), iproute2, iptables, make, git and Go >= 1.23 yourself, then run 'make build rootfs'"
missing=""
for p in busybox-static iproute2 iptables make git ca-certificates docker-registry skopeo podman umoci attr buildah bzip2 xz-utils; do
	installed "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt_update
	# shellcheck disable=SC2086 # one word per package
	apt_install $missing
	# Debian starts the registry it installs, on port 5000, for good: the
	# tests start their own, on ports of their own, and stop them.
	case " $missing " in
	*" docker-registry "*) ! command -v systemctl >/dev/null || systemctl disable --now docker-registry.service >/dev/null 2>&1 || true ;;
	esac
else
	say "packages: all present"
fi

# --- 2. Go ----------------------------------------------------------------
need=$(sed -n 's/^go \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' "$dir/go.mod")
[ -n "$need" ] || die "no 'go' line in $dir/go.mod"

# minor VERSION: 22 for 1.22 or 1.22.5 (mini needs Go 1.x).
minor() { echo "$1" | sed -n 's/^1\.\([0-9][0-9]*\).*/\1/p'; }
# gover GO: the toolchain's version (1.23.4), empty when it does not run.
# GOTOOLCHAIN=local and cd / keep it from switching to another toolchain.
gover() { (cd / && GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) | sed -n 's/^go//p'; }
# new_enough GO: GO runs and is at least go.mod's version.
new_enough() {
	v=$(gover "$1")
	[ -n "$v" ] && [ "$(minor "$v")" -ge "$(minor "$need")" ] 2>/dev/null
}
# find_go: the first new enough go on PATH or where installers put one.
find_go() {
	for g in $(command -v go || true) /usr/local/go/bin/go /usr/lib/go-1.*/bin/go /usr/lib/go/bin/go; do
		[ -x "$g" ] && new_enough "$g" && echo "$g" && return 0
	done
	return 1
}

# add_backports: Debian 12's own Go is 1.19; bookworm-backports has 1.22 and
# 1.23. Add it for the mirror apt already uses for bookworm.
add_backports() {
	grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
	mirror=$(sh "$dir/scripts/mirror.sh")
	say "adding bookworm-backports from $mirror (/etc/apt/sources.list.d/mini-backports.list)"
	echo "deb $mirror bookworm-backports main" >/etc/apt/sources.list.d/mini-backports.list
	apt_updated=no
}

# install_go: install a Go toolchain with apt and set go to its go binary.
install_go() {
	. /etc/os-release
	if [ "${ID:-}:${VERSION_CODENAME:-}" = debian:bookworm ]; then
		add_backports
		apt_update
		for v in 1.23 1.22; do
			if apt-cache show "golang-$v-go" >/dev/null 2>&1; then
				apt_install -t bookworm-backports "golang-$v-go"
				go=/usr/lib/go-$v/bin/go
				return 0
			fi
		done
	else # Ubuntu 24.04 has golang-1.22-go; newer releases have newer ones.
		apt_update
		for v in 1.24 1.23 1.22; do
			if [ "$(minor "$v")" -ge "$(minor "$need")" ] && apt-cache show "golang-$v-go" >/dev/null 2>&1; then
				apt_install "golang-$v-go"
				go=/usr/lib/go-$v/bin/go
				return 0
			fi
		done
	fi
	return 1
}

if go=$(find_go); then
	say "go: $go ($(gover "$go")), needs $need or newer"
else
	say "go: none $need or newer found; installing one with apt"
	install_go && new_enough "$go" ||
		die "could not install Go $need or newer with apt: install it from https://go.dev/dl/ and run me again"
	# Debian's golang-1.x-go does not put go on PATH; link it where both
	# users and sudo (secure_path) look, unless someone else's go is there.
	for t in go gofmt; do
		if [ ! -e "/usr/local/bin/$t" ] || readlink "/usr/local/bin/$t" | grep -q '^/usr/lib/go-'; then
			ln -sf "$(dirname "$go")/$t" "/usr/local/bin/$t"
		fi
	done
	say "go: $go ($(gover "$go")), linked as /usr/local/bin/go"
fi
gobin=$(dirname "$go")
case ":$PATH:" in
*":$gobin:"*) ;;
*) [ "$(command -v go || true)" = /usr/local/bin/go ] && [ "$(readlink -f /usr/local/bin/go)" = "$(readlink -f "$go")" ] ||
	say "note: $gobin is not on root's PATH; run the tests with: sudo env PATH=\"$gobin:\$PATH\" make test" ;;
esac

# --- 3. build -------------------------------------------------------------
owner=$(stat -c %u:%g "$dir")
# git refuses to work in a repository owned by another user ("dubious
# ownership"), and go build stamps binaries with git's view of the tree: let
# root use this checkout.
if [ "${owner%%:*}" != 0 ] && ! git config --system --get-all safe.directory 2>/dev/null | grep -qxF "$dir"; then
	say "git: trusting $dir for root (git config --system safe.directory)"
	git config --system --add safe.directory "$dir"
fi

# Under sudo, HOME may still be the user's: keep root's Go caches out of it.
[ "$(stat -c %u "${HOME:-/nonexistent}" 2>/dev/null)" = 0 ] || export HOME=/root
# Every module the build and the tests need, now, so that 'sudo make test'
# works later without a network.
say "go mod download"
(cd "$dir" && "$go" mod download) || die "could not download mini's Go modules (above: why). This machine must reach the Go module proxy, $(cd / && "$go" env GOPROXY): give it a proxy it can reach with GOPROXY (vagrant up and vagrant provision pass the host's GOPROXY on, see docs/workshop-setup.md), then run me again"
# The image's files must be root's (inside, its root owns them); a copy that
# went through another user (a chown, an rsync) is rebuilt.
if [ -e "$dir/rootfs/busybox/etc/passwd" ] && [ "$(stat -c %u "$dir/rootfs/busybox/etc/passwd")" != 0 ]; then
	say "rootfs/busybox is not owned by root: rebuilding it"
	rm -rf "$dir/rootfs/busybox"
fi
say "make build rootfs in $dir"
make -C "$dir" --no-print-directory GO="$go" build rootfs
# Root built them; leave bin/ to the checkout's owner so that 'make build'
# works without sudo. The image stays root's: inside a container its files
# belong to root.
chown -R "$owner" "$dir/bin"
# 'sudo mini ...' from anywhere runs this checkout's bin/mini, rebuilt or not;
# an installed copy ('make install') is left alone.
if [ ! -e /usr/local/bin/mini ] || [ -L /usr/local/bin/mini ]; then
	ln -sfn "$dir/bin/mini" /usr/local/bin/mini
fi

say "done: $("$dir/bin/mini" version 2>/dev/null | head -n 1), kernel $(uname -r), cgroup $(
	[ -f /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1
)"
