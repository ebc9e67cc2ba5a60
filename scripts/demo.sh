#!/bin/sh
# demo.sh: run the same command at every step, 0..N, and print what it saw,
# marking with * what changed since the step before. Needs root.
set -eu
mini=${MINI:-bin/mini}
image=${IMAGE:-rootfs/busybox}
[ "$(id -u)" = 0 ] || { echo "demo: run as root (sudo make demo): containers need it" >&2; exit 1; }

# What the container reports about itself, one KEY=value a line.
probe='
echo "hostname  $(hostname)"
echo "my pid    $$"
echo "/ holds   $(ls / | head -n 6 | tr "\n" " ")..."
echo "ps sees   $(ps -o pid | tail -n +2 | wc -l) processes"
echo "ipc       $(tail -n +2 /proc/sysvipc/msg | wc -l) SysV queues, $(ls /dev/shm 2>/dev/null | wc -l) files in /dev/shm"
echo "id -u     $(id -u), / owned by $(stat -c %u /)"
echo "links     $(ls /sys/class/net 2>/dev/null | tr "\n" " ")"
echo "cgroup    $(cut -d: -f3 /proc/self/cgroup | sort -u | tr "\n" " ")"
echo "/etc/hosts $(grep -v "^#" /etc/hosts | grep -c .) lines"
echo "caps      $(awk "/^CapEff/ {print \$2}" /proc/self/status), seccomp mode $(awk "/^Seccomp:/ {print \$2}" /proc/self/status), $(ls /sys/firmware 2>/dev/null | wc -l) entries in /sys/firmware"
'
max=$("$mini" version | sed -n 's/^  step \([0-9]*\):.*/\1/p' | tail -n 1)
prev=""
for n in $(seq 0 "$max"); do
	name=$("$mini" version | sed -n "s/^  step $n: //p")
	echo "== step $n ${name:-(engine only: no isolation)}"
	rm=""
	[ "$n" -lt 8 ] || rm=--rm # from step 8 on, each run has layers of its own
	cur=$("$mini" run --step "$n" $rm "$image" sh -c "$probe" 2>&1 || true)
	echo "$cur" | while IFS= read -r line; do
		if [ -n "$prev" ] && ! printf '%s\n' "$prev" | grep -qxF -- "$line"; then
			echo " * $line"
		else
			echo "   $line"
		fi
	done
	prev=$cur
done
