#!/bin/sh
# mkrootfs.sh DIR: build a busybox root filesystem in DIR (default rootfs/busybox)
# from Debian's busybox-static package. The package is downloaded with
# 'apt-get download' and unpacked with dpkg-deb, so nothing is installed on the
# host; an installed static /bin/busybox is used when the download fails.
set -eu

dir=${1:-rootfs/busybox}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

busybox=""
if command -v apt-get >/dev/null 2>&1 && (cd "$tmp" && apt-get download busybox-static >/dev/null 2>&1); then
	dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/pkg"
	busybox="$tmp/pkg/bin/busybox"
elif [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; then
	busybox=/bin/busybox # installed, and static: ldd finds no libraries
fi
if [ -z "$busybox" ]; then
	echo "mkrootfs: cannot get a static busybox: run 'sudo apt-get update' and try again, or 'sudo apt-get install busybox-static'" >&2
	exit 1
fi

rm -rf "$dir.new"
mkdir -p "$dir.new"
cd "$dir.new"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp proc sys dev mnt var/tmp home
chmod 1777 tmp var/tmp
chmod 700 root
cp "$busybox" bin/busybox
chmod 755 bin/busybox
# One symlink per applet, where busybox says it belongs (bin/sh, usr/bin/id...).
for applet in $(./bin/busybox --list-full); do
	[ -e "$applet" ] || ln -s /bin/busybox "$applet"
done
cat >etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat >etc/group <<'G'
root:x:0:
tty:x:5:
nogroup:x:65534:
G
echo mini >etc/hostname
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >etc/hosts
: >etc/resolv.conf
cd - >/dev/null
rm -rf "$dir"
mv "$dir.new" "$dir"
echo "mkrootfs: $dir ready ($("$dir/bin/busybox" | head -n 1 | cut -d' ' -f1-2))"
