#!/bin/sh
# SPDX-License-Identifier: ISC
# CTest fixture cleanup "agent": stops the shared agent; it must have
# survived every test and must remove its socket on SIGTERM.
set -eu
dir=$P11AGENT_BUILD/integ-fixture
pid=$(cat "$dir/agent/pid")
kill -0 "$pid" || { echo "shared agent died during the tests" >&2; exit 1; }
kill "$pid"
i=0
while kill -0 "$pid" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "agent ignores SIGTERM" >&2; exit 1; }
	sleep 0.1
done
[ ! -e "$dir/agent/sock" ] || { echo "socket left behind" >&2; exit 1; }
[ ! -e "$dir/agent/sock.pub" ] || { echo "sock.pub left behind" >&2; exit 1; }
