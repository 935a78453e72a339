#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# load.sh CLIENTS REQUESTS - CLIENTS concurrent libp11agent connections
# send REQUESTS requests each to a private agent on the SoftHSM token:
# SIGN with every key and algorithm, DECRYPT, DERIVE and PING mixed
# (tests/robust/loadclient.c). Proves: zero errors, zero wrong results
# (every signature verified, every decryption and shared secret compared
# with OpenSSL), and the agent's memory flat after warm-up: its RSS after
# the run is at most 2 MB above its RSS after a warm-up pass of the same
# clients (plus what SoftHSM 2.6 keeps per derive, see lib.sh); its
# descriptors are back to their count before.
. "$(dirname "$0")/lib.sh"
clients=${1:-64}
requests=${2:-2000}
need_fixture
start_agent load $(token_opts)
fd0=$(nfds "$AGENT_PID")
rss0=$(rss_kb "$AGENT_PID")

warm=$((requests / 10))
[ "$warm" -ge 20 ] || warm=20
loadclient "$P11AGENT_SOCK" "$clients" "$warm" || fail "warm-up pass"
settle "$AGENT_PID"
rss1=$(rss_kb "$AGENT_PID")

loadclient "$P11AGENT_SOCK" "$clients" "$requests" >"$T/load.out" ||
    { cat "$T/load.out"; fail "load pass"; }
cat "$T/load.out"
extra=$(softhsm_allowance_kb "$T/load.out")
settle "$AGENT_PID"
rss2=$(rss_kb "$AGENT_PID")
fd2=$(nfds "$AGENT_PID")
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$AGENT_PID/status")
echo "agent: RSS start $rss0 kB, after warm-up $rss1 kB, after load $rss2 kB (peak $hwm kB); fds $fd0 -> $fd2"
[ "$fd2" -le "$fd0" ] || fail "agent fds $fd0 before, $fd2 after"
if sanitized; then
	echo "sanitizer build: RSS not judged"
else
	echo "allowed: warm-up + 2048 kB + $extra kB (SoftHSM's destroyed derive objects)"
	[ "$rss2" -le $((rss1 + 2048 + extra)) ] ||
	    fail "agent RSS grew from $rss1 kB to $rss2 kB under load"
fi
kill -0 "$AGENT_PID" || fail "agent died"
pass "$clients clients x $requests requests"
