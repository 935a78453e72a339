#!/bin/sh
# SPDX-License-Identifier: ISC
# Recovery from a lost HSM connection: the agent reaches the token through
# "p11-kit server" (p11-kit-client.so), a few clients sign in a loop, the
# server is killed with SIGKILL in the middle and restarted at the same
# address 3 s later. Every request gets a signature that verifies or a
# clear "token not present"; the agent serves again within a few seconds
# of the restart, never dies, and needs no restart or unlock.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/token-lib.sh"
need_fixture
agent_via_server rec

# client N STOP: signs in a loop until the file STOP exists (at most 300
# times), recording each request in $T/cN.
client() {
	d=$T/c$1
	mkdir -p "$d"
	n=0
	while [ ! -f "$2" ] && [ $n -lt 300 ]; do
		if [ $((n % 2)) -eq 0 ]; then key=alice; alg=rsa-pkcs1-sha256
		else key=carol; alg=ecdsa-sha256; fi
		printf 'client %s request %s' "$1" "$n" >"$d/m$n"
		echo "$key" >"$d/k$n"
		if p11 sign --key "$key" --alg "$alg" --in "$d/m$n" \
		    --out "$d/s$n" 2>"$d/e$n"; then
			echo ok >"$d/r$n"
		else
			echo fail >"$d/r$n"
		fi
		n=$((n + 1))
	done
}
wait_clients() {
	for p in $(jobs -p); do
		[ "$p" = "$SRV_PID" ] || [ "$p" = "$AGENT_PID" ] || wait "$p"
	done
}
# The HSM goes away under load, for 3 s.
for c in 1 2 3 4; do client $c "$T/stop1" & done
sleep 1.5
kill_server
kill -0 "$AGENT_PID" || fail "agent died with the server"
sleep 3
touch "$T/stop1"
wait_clients
# It comes back: the agent serves again, by itself.
start_server
t0=$(now_ms)
until p11 sign --key carol --alg ecdsa-sha256 --in "$T/c1/m0" \
    --out "$T/after" 2>/dev/null; do
	[ $(($(now_ms) - t0)) -lt 15000 ] || {
		p11 sign --key carol --alg ecdsa-sha256 --in "$T/c1/m0" \
		    --out "$T/after" >&2 || true
		tail -n 40 "$T/rec/log" "$T/srv.err" >&2 || true
		fail "no recovery in 15 s"
	}
	sleep 0.1
done
took=$(($(now_ms) - t0))
verify_sig carol "$T/c1/m0" "$T/after" || fail "signature after recovery"
[ "$took" -lt 5000 ] || fail "recovery took $took ms"
# And under load again: every request is signed.
for c in 5 6 7 8; do client $c "$T/stop2" & done
sleep 1.5
touch "$T/stop2"
wait_clients
kill -0 "$AGENT_PID" || fail "agent died"
for r in "$T"/c[5-8]/r*; do
	[ "$(cat "$r")" = ok ] || fail "after recovery: $(cat "${r%/*}/e${r##*/r}")"
done

ok=0; gone=0
for r in "$T"/c*/r*; do
	d=${r%/*}
	n=${r##*/r}
	if [ "$(cat "$r")" = ok ]; then
		verify_sig "$(cat "$d/k$n")" "$d/m$n" "$d/s$n" ||
		    fail "request $d/$n: a signature that does not verify"
		ok=$((ok + 1))
	else
		grep -q "token not present" "$d/e$n" ||
		    fail "request $d/$n: unclear error: $(cat "$d/e$n")"
		gone=$((gone + 1))
	fi
done
echo "$ok signatures, $gone \"token not present\", recovery in $took ms"
[ "$gone" -ge 1 ] || fail "the outage was not seen by any request"
[ "$ok" -ge 8 ] || fail "too few signatures: $ok"
grep -q "back, logged in again" "$T/rec/log" || fail "no recovery in the log"
p11 status | grep -q "present, logged in" || fail "status after recovery"
pass "token recovery"
