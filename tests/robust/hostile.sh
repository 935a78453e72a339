#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# hostile.sh [FRAMES CHURN] - hostile and faulty clients against a private
# agent while well-behaved clients keep working (tests/robust/hostile.py,
# built on tests/integ/noiseclient.py). Proves, in one run:
#  - FRAMES (10,000) random and mutated frames: sealed random requests
#    each get one well-formed reply; hostile hellos and tampered,
#    replayed, reordered, truncated or wrong-direction sealed frames each
#    close their connection;
#  - three clients sending their hello one byte per second are dropped
#    by the handshake deadline (10 s) while the others are served;
#  - clients SIGKILLed with requests in flight (loadclient, twice);
#  - CHURN (3,000) connections opened and dropped at every stage;
#  - throughout, 2 loadclient connections get every answer right (every
#    signature verified, every decryption and secret compared);
#  - afterwards the agent's open descriptors are back to their baseline
#    and its RSS within 2 MB of it, plus what SoftHSM 2.6 keeps per
#    derive (lib.sh; baseline: after a warm-up pass of every phase at a
#    tenth of the size).
. "$(dirname "$0")/lib.sh"
frames=${1:-10000}
churn=${2:-3000}
need_fixture
start_agent hostile $(token_opts)
PY=/usr/bin/python3
H="$P11AGENT_SRC/tests/robust/hostile.py"
PUB=$P11AGENT_SOCK.pub

# kill_mid_flight N: N loadclient connections, SIGKILLed while busy.
kill_mid_flight() {
	loadclient "$P11AGENT_SOCK" "$1" 1000000 >/dev/null 2>&1 &
	lc=$!
	sleep 1
	kill -KILL "$lc"
	wait "$lc" 2>/dev/null || true
}

# phase FRAMES CHURN SLOW: one pass of everything, with bystanders.
phase() {
	rm -f "$T/stop"
	loadclient -u "$T/stop" "$P11AGENT_SOCK" 2 20 >"$T/bystander.out" 2>&1 &
	by=$!
	slow=""
	i=0
	while [ $i -lt "$3" ]; do
		$PY "$H" "$P11AGENT_SOCK" "$PUB" slow >"$T/slow.$i" 2>&1 &
		slow="$slow $!"
		i=$((i + 1))
	done
	$PY "$H" "$P11AGENT_SOCK" "$PUB" frames "$1" || fail "hostile frames"
	kill_mid_flight 8
	$PY "$H" "$P11AGENT_SOCK" "$PUB" churn "$2" || fail "connection churn"
	kill_mid_flight 4
	for p in $slow; do
		wait "$p" || { cat "$T"/slow.*; fail "slow client"; }
	done
	[ -z "$slow" ] || cat "$T"/slow.*
	touch "$T/stop"
	wait "$by" || { cat "$T/bystander.out"; fail "a well-behaved client failed"; }
	cat "$T/bystander.out"
	cat "$T/bystander.out" >>"$T/bystanders.out"
	kill -0 "$AGENT_PID" || fail "agent died"
}

phase $((frames / 10)) $((churn / 10)) 1
settle "$AGENT_PID"
fd0=$(nfds "$AGENT_PID")
rss0=$(rss_kb "$AGENT_PID")
echo "baseline after warm-up: $fd0 fds, RSS $rss0 kB"

rm -f "$T/bystanders.out"
phase "$frames" "$churn" 3
settle "$AGENT_PID"
extra=$(softhsm_allowance_kb "$T/bystanders.out")
fd1=$(nfds "$AGENT_PID")
rss1=$(rss_kb "$AGENT_PID")
echo "after the hostile run: $fd1 fds, RSS $rss1 kB"
[ "$fd1" -le "$fd0" ] || { ls -l "/proc/$AGENT_PID/fd"; fail "agent fds $fd0 -> $fd1"; }
if sanitized; then
	echo "sanitizer build: RSS not judged"
else
	echo "allowed: baseline + 2048 kB + $extra kB (SoftHSM's destroyed derive objects)"
	[ "$rss1" -le $((rss0 + 2048 + extra)) ] || fail "agent RSS $rss0 kB -> $rss1 kB"
fi
pass "hostile and faulty clients: $frames frames, $churn connections"
