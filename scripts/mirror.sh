#!/bin/sh
# mirror.sh: print the Debian mirror apt already uses for bookworm (a
# deb822 .sources file or a one-line .list entry), else deb.debian.org.
# provision.sh adds bookworm-backports from it; realworld.sh debootstraps
# from it.
{
	awk 'BEGIN { RS = "" } /Suites:[^\n]*[ \t]bookworm([ \t\n]|$)/ && match($0, /URIs:[ \t]*[^ \t\n]+/) {
		u = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", u); print u
	}' /etc/apt/sources.list.d/*.sources 2>/dev/null
	sed 's/\[[^]]*\] *//' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" && $3 == "bookworm" { print $2 }'
	echo http://deb.debian.org/debian
} | head -n 1
