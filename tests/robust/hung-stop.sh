#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# SIGTERM while a token operation hangs: the agent must not hang with it.
# The agent reaches the token through "p11-kit server"; a client signs in
# a loop and the server is stopped (SIGSTOP: the HSM link stalls), so one
# signature hangs inside the agent. On SIGTERM the socket and its .pub go
# at once (no new client waits on an agent that is leaving), and after
# SHUTDOWN_WAIT (10 s, agent/main.c) the agent exits with status 1 and
# one line that says it left a hung operation behind.
. "$P11AGENT_SRC/tests/robust/lib.sh"
. "$P11AGENT_SRC/tests/integ/token-lib.sh"
need_fixture
agent_via_server hungstop

loadclient -o sign -u "$T/stop" "$P11AGENT_SOCK" 1 100 >"$T/load.out" 2>&1 &
LOAD=$!
sleep 1
kill -0 "$LOAD" || fail "load client ended early: $(cat "$T/load.out")"
signal_server STOP
sleep 0.5
t0=$(date +%s)
kill -TERM "$AGENT_PID"
sleep 1
[ ! -e "$P11AGENT_SOCK" ] || fail "the socket is still there 1 s after SIGTERM"
[ ! -e "$P11AGENT_SOCK.pub" ] || fail "$P11AGENT_SOCK.pub is still there"
i=0
while kill -0 "$AGENT_PID" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "agent still running 30 s after SIGTERM"
	sleep 0.1
done
set +e
wait "$AGENT_PID"
st=$?
set -e
t1=$(date +%s)
echo "agent exited with status $st after $((t1 - t0)) s"
[ "$st" -eq 1 ] || fail "exit status $st, want 1"
[ $((t1 - t0)) -ge 9 ] || fail "exited after $((t1 - t0)) s: did it wait for the operation?"
grep -q "shutdown: a token operation has not returned in 10 s" \
    "$T/hungstop/log" || { cat "$T/hungstop/log" >&2; fail "no log line"; }
signal_server CONT
touch "$T/stop"
wait "$LOAD" 2>/dev/null || true
pass "SIGTERM with a hung token operation"
