#!/bin/sh
# SPDX-License-Identifier: ISC
# Fairness and back-pressure, by counting, never by the clock:
#  - one client keeps 128 signatures in flight, 3000 in all, while a
#    second client asks for one signature three times; each of those is
#    answered after at most a few of the flooder's (connections take
#    turns, one frame each, so it is not queued behind the flood: FIFO
#    would make it wait for the hundred or more ahead of it);
#  - three clients that pipeline 100 requests each get every one
#    answered exactly once, and a newcomer is still served.
. "$(dirname "$0")/lib.sh"
need_fixture
PC="/usr/bin/python3 $P11AGENT_SRC/tests/integ/policy-client.py"
# The flood uses an RSA-2048 key (alice; carol, P-256, is the marker the
# victim may not use): an operation takes the agent ~0.6 ms, so even a
# slow client on a loaded machine keeps the flood deep in the agent's
# socket, instead of its replies piling up unread in its own.
# One reactor: completions are in the order it takes frames, so the
# audit log shows the scheduling itself, not which thread the CPU
# happened to run. Each turn reads one frame of one connection; the
# victim's request waits for at most the flooder's operation running
# when it arrives, one taken between the denial's line and the victim's
# next turn, and one more if the flooder was re-armed just before.
WORKERS=1
BOUND=3

keyid() { p11 keys --json | /usr/bin/python3 -c 'import json,sys
print([k["id"] for k in json.load(sys.stdin) if k["label"] == sys.argv[1]][0])' "$1"; }
keyof() { XDG_CONFIG_HOME=$T/c-$1 p11 client-key | cut -d' ' -f1; }

# The agent's audit log orders events exactly; keep it off the disk.
AUD=$T
[ -d /dev/shm ] && [ -w /dev/shm ] && AUD=$(mktemp -d /dev/shm/p11agent-fair.XXXXXX)
trap 'rm -rf "$AUD"; cleanup' EXIT
printf '%s me\n%s flooder\n%s victim keys=label:alice\n' "$(p11 client-key |
    cut -d' ' -f1)" "$(keyof flooder)" "$(keyof victim)" >"$T/ac"
chmod 600 "$T/ac"
# shellcheck disable=SC2046
start_agent fair $(token_opts) --workers $WORKERS --authorized-clients "$T/ac" \
    --audit-log "$AUD/audit.log"
ALICE=$(keyid alice)
CAROL=$(keyid carol)
$PC "$P11AGENT_SOCK" "$P11AGENT_SOCK.pub" - flood "$ALICE" 3000 128 \
    "$T/c-flooder/p11agent/client.key" "$T/c-victim/p11agent/client.key" \
    "$CAROL" "$AUD/audit.log" >"$T/r" || fail "flood client failed"
cat "$T/r"
grep -q '^flooder 3000 requests, 0 busy$' "$T/r" ||
    fail "the flooder was refused within its window"
[ "$(grep -c '^victim waited for' "$T/r")" -eq 3 ] || fail "victim probes"
# "victim waited for N flooder operations (Q queued ahead)": a small N
# while Q is large is what FIFO could not do (it gives N = Q). Every
# probe must wait at most BOUND; a probe proves fairness only when the
# flood was deep as it arrived (on a loaded machine the flooder's queue
# sometimes runs low for a moment), so at least two of the three must
# have met DEEP or more ahead of them, where FIFO would have waited
# five times the bound. The flood waits in the flooder's socket, which
# holds about 70 such frames (Linux's default 208 KiB send buffer).
DEEP=16
awk -v b=$BOUND -v d=$DEEP '/^victim waited for/ {
	q = substr($7, 2) + 0
	if ($4 + 0 > b) bad = 1
	if (q >= d) deep++
} END { exit bad || deep < 2 }' "$T/r" ||
    fail "a single request waited for more than $BOUND of the flood, or the flood was never deep"
pass "a single request overtakes a deep flood (bound $BOUND)"
stop_agent

# shellcheck disable=SC2046
start_agent burst $(token_opts) --workers 1
BOB=$(keyid bob)
$PC "$P11AGENT_SOCK" "$P11AGENT_SOCK.pub" - burst "$BOB" 3 100 >"$T/r" ||
    fail "burst client failed"
cat "$T/r"
# What a client pipelines waits in its socket, not in the agent: nothing
# to refuse, nothing lost, and a newcomer is served alongside.
[ "$(head -1 "$T/r")" = "ok 300 busy 0 other 0" ] ||
    fail "not every pipelined request was answered ok once: $(cat "$T/r")"
grep -q '^latecomer ok$' "$T/r" || fail "a newcomer was refused"
pass "pipelined bursts: every request answered once, newcomer served"
