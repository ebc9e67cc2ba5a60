#!/bin/sh
# vm-test.sh: run every test inside the Vagrant box, as root, with
# MINI_NO_SKIP=1 (a scenario that cannot run fails instead of skipping), then
# print pass/fail per scenario and test, grouped by step. 'make vm-test' runs it
# from the checkout; the box comes up first if it is not running.
#
# When this machine has Go, the test binaries and bin/mini are built here
# (CGO_ENABLED=0, for the box's architecture) and copied in: compiling inside a
# VM without hardware virtualization is very slow. Without Go here, the box
# builds them itself. The full output goes to bin/vm-test.log.
#
# vm-test.sh --inside DIR runs in the box (as root): the test binaries listed
# in DIR/packages, each from its package's directory.
set -eu

die() {
	echo "vm-test: $*" >&2
	exit 1
}
now() { date +%s; }

# inside DIR: in the box. DIR/packages lists "BINARY PACKAGE-DIR" lines; with
# no such file, build the binaries here first.
inside() {
	bins=$1
	cd /vagrant
	owner=$(stat -c %u:%g .)
	mkdir -p "$bins" bin
	if [ ! -f "$bins/packages" ]; then
		echo "=== building the test binaries in the box (slow without hardware virtualization)"
		for d in $(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./...); do
			rel=${d#/vagrant/}
			bin=$(echo "$rel" | tr / _).test
			if go test -c -o "$bins/$bin" "./$rel"; then
				echo "$bin $rel" >>"$bins/packages"
			else
				printf '=== package %s\n=== exit %s build\n' "$rel" "$rel"
			fi
		done
	fi
	if [ -f "$bins/mini" ]; then
		install -m 755 "$bins/mini" "$bins/mini-image" bin/
	else
		make --no-print-directory build
	fi
	chown -R "$owner" bin
	make --no-print-directory rootfs >/dev/null
	echo "=== box $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), cgroup $(
		[ -f /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1
	), $(nproc) CPUs, uid $(id -u), $(bin/mini version | head -n 1)"
	rc=0
	while read -r bin rel; do
		echo "=== package $rel"
		s=0
		(cd "$rel" && PATH=/vagrant/bin:$PATH MINI_NO_SKIP=1 "$bins/$bin" -test.v -test.count=1) || s=$?
		echo "=== exit $rel $s"
		[ "$s" = 0 ] || rc=1
	done <"$bins/packages"
	echo "=== done $rc"
}

# summary LOG: one line per test (leaves only: a test with subtests is
# summed up by them), grouped by step: by the test's own name (step06_net,
# lab03, 05-user.md) or else by its package (steps/NN-name). Exits 1 when
# anything failed.
summary() {
	awk '
	/^=== package / { pkg = $3 }
	/^=== exit / && $4 != 0 { bad[$3] = $4 }
	/^=== done / { done = 1 }
	/^ *--- (PASS|FAIL|SKIP): / {
		k = pkg SUBSEP $3
		if (!(k in res)) order[n++] = k
		res[k] = $2; sub(/:$/, "", res[k])
		if (res[k] == "FAIL") failed[pkg] = 1
	}
	function group(p, t,   s) {
		s = t; sub(/^.*\//, "", s)
		if (s ~ /^(step|lab)?[0-9][0-9]([-_.]|$)/) { sub(/^(step|lab)/, "", s); return substr(s, 1, 2) }
		if (p ~ /^(steps|lab)\/[0-9][0-9]-/) return substr(p, index(p, "/") + 1, 2)
		return "00"
	}
	END {
		for (i = 0; i < n; i++) {
			split(order[i], kt, SUBSEP)
			leaf = 1
			for (j = 0; j < n; j++) {
				split(order[j], ot, SUBSEP)
				if (ot[1] == kt[1] && index(ot[2], kt[2] "/") == 1) { leaf = 0; break }
			}
			if (!leaf) continue
			scenario = kt[2] ~ /^TestScripts\//
			name = kt[2]; sub(/^TestScripts\//, "", name)
			printf "%s\t%d\t%s\t%s\t%s\n", group(kt[1], kt[2]), !scenario, name, res[order[i]], scenario ? "scenario" : kt[1]
		}
		for (p in bad) if (!(p in failed))
			printf "%s\t2\t%s\tFAIL\t%s\n", group(p, ""), "(package " p ")", (bad[p] == "build" ? "does not build" : "exit status " bad[p])
		if (!done) printf "99\t2\t(the run did not finish)\tFAIL\t\n"
	}' "$1" | sort -t "$(printf '\t')" -k1,1 -k2,2n -k5,5 -k3,3 |
		awk -F '\t' -v names="$(ls steps 2>/dev/null | tr '\n' ' ')" -v box="$(sed -n 's/^=== box //p' "$1" | head -n 1)" '
	BEGIN {
		k = split(names, a, " ")
		for (i = 1; i <= k; i++) if (a[i] ~ /^[0-9][0-9]-/) name[substr(a[i], 1, 2)] = substr(a[i], 4)
		print "== vm-test: " box ", MINI_NO_SKIP=1"
		last = "none"
	}
	$1 != last {
		last = $1
		if ($1 == "00") print "engine and command (no single step)"
		else if ($1 == "99") print "incomplete"
		else print "step " $1 ($1 in name ? " " name[$1] : "")
	}
	{ printf "  %-4s  %-36s %s\n", $4, $3, $5; count[$4]++ }
	END {
		printf "== %d passed, %d failed, %d skipped\n", count["PASS"], count["FAIL"], count["SKIP"]
		exit (count["FAIL"] > 0)
	}'
}

# failures LOG: the failure lines of each failed test (testscript's "FAIL:",
# t.Error's "file.go:N:", panics), by the test that printed them.
failures() {
	awk '
	/^=== package / { pkg = $3; cur = "" }
	/^=== (RUN|CONT|NAME|PAUSE) / { cur = $3 }
	/^ *--- FAIL: / { failed[pkg SUBSEP $3] = 1 }
	/^ *FAIL: |^ +[A-Za-z0-9_]+\.go:[0-9]+: |^(panic|fatal error): / {
		if ($0 ~ /testscript\.go:[0-9]+: WORK=/) next
		k = pkg SUBSEP cur
		if (!(k in det)) order[n++] = k
		line = $0; sub(/^ +/, "", line)
		det[k] = det[k] "\n    " line
		if (line ~ /^(panic|fatal error): /) failed[k] = 1
	}
	END {
		for (i = 0; i < n; i++) if (order[i] in failed) {
			split(order[i], a, SUBSEP)
			print "  " a[2] " (" a[1] "):" det[order[i]]
		}
	}' "$1"
}

if [ "${1:-}" = --inside ]; then
	inside "$2"
	exit 0
fi
cd "$(dirname "$0")/.."
if [ "${1:-}" = --summary ]; then # --summary LOG: summarize an earlier run's log
	summary "$2" || { failures "$2"; exit 1; }
	exit
fi
command -v vagrant >/dev/null || die "vagrant is not installed: see docs/workshop-setup.md"
mkdir -p bin
log=bin/vm-test.log
t0=$(now)
state=$(vagrant status --machine-readable | awk -F, '$3 == "state" { print $4; exit }')
if [ "$state" = running ]; then
	echo "vm-test: the box is running; copying the checkout in (vagrant rsync)"
	vagrant rsync >/dev/null
else
	echo "vm-test: the box is $state; vagrant up"
	vagrant up
fi
t1=$(now)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
GO=${GO:-go}
if command -v "$GO" >/dev/null; then
	case $(vagrant ssh -c 'uname -m' 2>/dev/null | tr -d '\r') in
	x86_64) arch=amd64 ;;
	aarch64) arch=arm64 ;;
	*) die "cannot tell the box's architecture (vagrant ssh -c 'uname -m')" ;;
	esac
	echo "vm-test: building bin/mini and the test binaries here (linux/$arch)"
	export CGO_ENABLED=0 GOOS=linux GOARCH="$arch"
	"$GO" build -ldflags "-X main.version=${VERSION:-dev}" -o "$stage/mini" ./mini || die "bin/mini does not build"
	"$GO" build -o "$stage/mini-image" ./mini/image/mini-image || die "bin/mini-image does not build"
	for d in $("$GO" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./...); do
		rel=${d#"$PWD"/}
		bin=$(echo "$rel" | tr / _).test
		# A package that does not build is reported as such; the others run.
		if "$GO" test -c -o "$stage/$bin" "./$rel"; then
			echo "$bin $rel" >>"$stage/packages"
		else
			printf '=== package %s\n=== exit %s build\n' "$rel" "$rel" >>"$stage/build.log"
		fi
	done
else
	echo "vm-test: no Go here; the box builds the test binaries itself"
fi
t2=$(now)
# The binaries go in over ssh: /vagrant only syncs one way, and bin/ is the box's.
tar -C "$stage" -cf - . | vagrant ssh -c 'rm -rf /tmp/mini-vm-test && mkdir /tmp/mini-vm-test && tar -xf - -C /tmp/mini-vm-test'
t3=$(now)
echo "vm-test: running the tests in the box as root (full output: $log)"
cat "$stage/build.log" >"$log" 2>/dev/null || : >"$log"
vagrant ssh -c 'sudo sh /vagrant/scripts/vm-test.sh --inside /tmp/mini-vm-test' 2>&1 | tee -a "$log" |
	awk '/^=== (box|building) / { print "vm-test:", substr($0, 5) }
	/^=== package / { printf "vm-test:   %-20s ", $3; fflush() }
	/^=== exit / { print ($4 == 0 ? "ok" : "FAIL"); fflush() }'
t4=$(now)
echo
rc=0
if ! summary "$log"; then
	rc=1
	echo "== what failed (the whole story is in $log):"
	failures "$log"
fi
echo "== times: box up/rsync $((t1 - t0)) s, build here $((t2 - t1)) s, copy in $((t3 - t2)) s, tests in the box $((t4 - t3)) s"
exit $rc
