#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# A token operation that hangs holds its own reactor only. The agent
# reaches the token through "p11-kit server"; one client signs in a loop,
# quickly enough that the agent polls for its requests with its other
# reactors parked (agent/loop.c), and a second connection sits idle. The
# server is then stopped (SIGSTOP: the HSM link stalls), so the looping
# client's next signature hangs inside the agent with nobody watching the
# other connections. The idle connection must still be answered (the
# main thread summons a parked reactor) within 2 s, and after SIGCONT the
# loop finishes with every signature verified.
. "$P11AGENT_SRC/tests/robust/lib.sh"
. "$P11AGENT_SRC/tests/integ/token-lib.sh"
need_fixture
agent_via_server hung

/usr/bin/python3 "$P11AGENT_SRC/tests/integ/noiseclient.py" \
    "$P11AGENT_SOCK" "$P11AGENT_SOCK.pub" idle-status "$T/go" 2 \
    >"$T/idle.out" 2>&1 &
IDLE=$!
loadclient -o sign -p 30 -u "$T/stop" "$P11AGENT_SOCK" 1 100 >"$T/load.out" 2>&1 &
LOAD=$!
sleep 1.5
kill -0 "$LOAD" || fail "load client ended early: $(cat "$T/load.out")"
signal_server STOP
sleep 0.5
touch "$T/go"
if ! wait "$IDLE"; then
	signal_server CONT
	fail "idle connection not answered while an operation hangs: $(cat "$T/idle.out")"
fi
cat "$T/idle.out"
signal_server CONT
touch "$T/stop"
wait "$LOAD" || fail "load client: $(cat "$T/load.out")"
cat "$T/load.out"
kill -0 "$AGENT_PID" || fail "agent died"
pass "hung token operation"
