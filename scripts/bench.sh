#!/bin/sh
# bench.sh [flags]: time mini at every step beside unshare, runc and crun.
# Flags go to scripts/bench (go run ./scripts/bench -h lists them).
set -eu
exec go run ./scripts/bench "$@"
