#!/bin/sh
# SPDX-License-Identifier: ISC
# Socket activation as the systemd user units do it: the socket exists
# before the agent runs; the first client's connect starts the agent,
# and the client waits for the agent's published key instead of failing.
. "$(dirname "$0")/lib.sh"
need_fixture
command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate missing"

mkdir -p "$T/sa"
chmod 700 "$T/sa"
P11AGENT_SOCK=$T/sa/sock
export P11AGENT_SOCK
systemd-socket-activate -l "$P11AGENT_SOCK" -E SOFTHSM2_CONF \
    p11agent --foreground --agent-key "$T/sa/agent.key" \
    --module "$P11AGENT_TEST_MODULE" --pin-file "$P11AGENT_TEST_PINFILE" \
    >"$T/sa/out" 2>"$T/sa/log" &
_agent_pids="$_agent_pids $!"
i=0
while [ ! -S "$P11AGENT_SOCK" ]; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "no listening socket"
	sleep 0.1
done
[ ! -e "$P11AGENT_SOCK.pub" ] || fail "agent ran before any client"
p11 status >"$T/st" || { cat "$T/sa/log" >&2; fail "first client failed"; }
grep -q "p11agent-demo" "$T/st" || fail "no token in status"
[ -f "$P11AGENT_SOCK.pub" ] || fail "agent did not publish its key"
printf 'x' >"$T/m"
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" >/dev/null
pass "socket activation"
