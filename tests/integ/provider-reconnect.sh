#!/bin/sh
# SPDX-License-Identifier: ISC
# A process holding the provider's agent connection keeps working when
# the agent restarts: the next request finds the connection closed,
# reconnects once and succeeds.
. "$(dirname "$0")/provider-lib.sh"
need_fixture
# shellcheck disable=SC2046
start_agent rc $(token_opts)

mkfifo "$T/in"
p11agent-provider-check -r carol@bigcorp.example <"$T/in" >"$T/out" 2>&1 &
check=$!
exec 3>"$T/in"
i=0
until grep -q '^restart' "$T/out"; do
	kill -0 $check 2>/dev/null || { cat "$T/out" >&2; fail "check died"; }
	i=$((i + 1))
	[ $i -lt 300 ] || fail "check did not reach the restart point"
	sleep 0.1
done
stop_agent
rm -f "$P11AGENT_SOCK" "$P11AGENT_SOCK.pub"
# Same socket and agent key: the client's pinned key still matches.
# shellcheck disable=SC2046
start_agent rc $(token_opts)
echo go >&3
exec 3>&-
wait $check || { cat "$T/out" >&2; fail "no signature after restart"; }
cat "$T/out"
grep -q "^ok - signing after the agent restarted" "$T/out" ||
    fail "restart step missing"
pass "reconnect after agent restart"
