#!/bin/sh
# realworld.sh: mini with a real distribution, as a new user would try it.
# A Debian 12 minbase image made with debootstrap from the mirror apt
# already uses (once: it is kept in $REALWORLD_DIR, /var/tmp/mini-realworld
# by default), then, at the default step, in bridge mode, with the default
# map: apt-get update and install of a package (the container reaches the
# mirror through the bridge's NAT), useradd and a login shell as the new
# user, a write to /tmp; and the image is the same after as before. Then
# the same tree as an image: made an OCI image with umoci, pushed with skopeo
# to Debian's docker-registry on a port of 127.0.0.1, pulled by mini, run by
# name at step 8 (apt-get install again), saved with mini save and loaded by
# podman.
# It needs root and the network (the mirror): make realworld, not make test.
set -eu
cd "$(dirname "$0")/.."
say() { printf 'realworld: %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo make realworld)"
command -v debootstrap >/dev/null || { say "apt-get install debootstrap"; apt-get -qq install -y debootstrap >/dev/null; }

dir=${REALWORLD_DIR:-/var/tmp/mini-realworld}
img=$dir/bookworm
if [ ! -x "$img/usr/bin/apt-get" ]; then
	mirror=$(sh scripts/mirror.sh)
	say "debootstrap --variant=minbase bookworm $img $mirror (once, a few minutes)"
	rm -rf "$img.new"
	mkdir -p "$dir"
	debootstrap --variant=minbase bookworm "$img.new" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
		die "debootstrap failed: see $dir/debootstrap.log"
	mv "$img.new" "$img"
fi

# Bridge mode turns forwarding on and sets the FORWARD policy to DROP where it
# was off, as docker does: this run puts back what it found.
forward=$(cat /proc/sys/net/ipv4/ip_forward)
policy=$(iptables -w -S FORWARD | awk '$1 == "-P" { print $3 }')

# State, bridge and subnet of this run's own, removed at the end.
root=$(mktemp -d /run/mini-realworld.XXXXXX)
work=$(mktemp -d /var/tmp/mini-realworld-run.XXXXXX)
registry=
bridge=minirw$$
bridge=$(echo "$bridge" | cut -c1-15)
subnet=10.234.$(( $$ % 250 )).0/24
cleanup() {
	ip link del "$bridge" 2>/dev/null || true
	for table in nat filter; do
		iptables -w -t "$table" -S | grep -F "\"mini:$bridge\"" | sed 's/^-A/-D/; s/"//g' |
			while read -r rule; do eval "iptables -w -t $table $rule"; done
	done
	[ -z "$registry" ] || kill "$registry" 2>/dev/null || true
	echo "$forward" >/proc/sys/net/ipv4/ip_forward
	[ -z "$policy" ] || iptables -w -P FORWARD "$policy"
	rm -rf "$root" "$work"
}
trap cleanup EXIT
sum() { (cd "$img" && find . -xdev -printf '%p %y %m %U:%G %s %T@ %l\n' | LC_ALL=C sort | sha256sum); }
before=$(sum)

say "mini run --rm $img: apt-get update && apt-get install -y hello; useradd; a write to /tmp"
start=$(date +%s)
bin/mini run --rm --root "$root" --bridge "$bridge" --subnet "$subnet" "$img" sh -ec '
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends hello >/dev/null
	hello
	useradd -m bob
	su bob -s /bin/sh -c "id -un; echo hi >/tmp/bob && cat /tmp/bob"
	touch /tmp/x && ls /tmp/x
	stat -c "%U %n" /etc/passwd
'
say "passed in $(( $(date +%s) - start )) s"
[ "$(sum)" = "$before" ] || die "the image changed: a container wrote into it"
say "the image is unchanged"

say "the same tree as an image: umoci, skopeo copy to docker-registry on 127.0.0.1, mini pull"
port=$(shuf -i 20000-40000 -n 1)
printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$work/registry" "$port" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry=$!
i=0
until busybox wget -q -O - "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || die "docker-registry did not start: $work/registry.log"; sleep 0.1
done
umoci init --layout "$work/layout" && umoci new --image "$work/layout:12" &&
	umoci insert --image "$work/layout:12" "$img" / >/dev/null &&
	umoci config --image "$work/layout:12" --config.cmd /bin/bash >/dev/null || die "umoci failed"
skopeo copy -q --insecure-policy --dest-tls-verify=false "oci:$work/layout:12" "docker://127.0.0.1:$port/realworld/debian:12" ||
	die "skopeo copy failed"
name=127.0.0.1:$port/realworld/debian:12
export MINI_DATA_ROOT="$work/data"
bin/mini pull -q "$name" >/dev/null || die "mini pull $name failed"
bin/mini images | grep -F "127.0.0.1:$port/realworld/debian" || die "mini images lists no such image"
bin/mini run --rm --step 8 --root "$root" --bridge "$bridge" --subnet "$subnet" "$name" sh -ec '
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends hello >/dev/null
	hello
'
say "mini save, then podman load"
bin/mini save -o "$work/debian.tar" "$name" || die "mini save failed"
podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver vfs load -q -i "$work/debian.tar" ||
	die "podman load failed"
podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver vfs images --format '{{.Repository}}:{{.Tag}} {{.Size}}'
say "images: passed"
