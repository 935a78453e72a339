#!/bin/sh
# SPDX-License-Identifier: ISC
# The PIN cache expires: with --lock-after 3 an idle agent locks (forgets
# the PIN, logs out) and the next operation asks the pinentry again; with
# --pin-max-lifetime 3 the agent locks 3 s after the PIN was entered even
# while it is busy, and asks again; with a PIN file and no pinentry it
# stays locked until p11 unlock.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/token-lib.sh"
need_fixture
private_token
fake_pinentry
printf 'x' >"$T/m"

# Idle lock.
start_agent idle --module "$P11AGENT_TEST_MODULE" --pinentry "$PINENTRY" \
    --lock-after 3
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" --out "$T/s1"
verify_sig carol "$T/m" "$T/s1" || fail "first signature"
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" >/dev/null
[ "$(lines "$T/pe/getpin")" -eq 1 ] || fail "asked again before idle"
sleep 4.5
p11 status | grep -q ": locked," || fail "not locked after 3 s idle"
grep -q "locked (idle)" "$T/idle/log" || fail "no idle lock in the log"
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" --out "$T/s2"
verify_sig carol "$T/m" "$T/s2" || fail "signature after idle lock"
[ "$(lines "$T/pe/getpin")" -eq 2 ] || fail "not asked again after idle lock"
stop_agent
pass "idle lock re-asks"

# Maximum lifetime: locks while in use.
rm -f "$T/pe/getpin"
start_agent life --module "$P11AGENT_TEST_MODULE" --pinentry "$PINENTRY" \
    --pin-max-lifetime 3
t0=$(now_ms)
i=0
while [ $i -lt 6 ]; do
	p11 sign --key alice --alg rsa-pkcs1-sha256 --in "$T/m" \
	    --out "$T/l$i" || fail "sign $i under a PIN lifetime"
	verify_sig alice "$T/m" "$T/l$i" || fail "signature $i"
	sleep 1
	i=$((i + 1))
done
n=$(lines "$T/pe/getpin")
most=$((1 + ($(now_ms) - t0) / 3000))
[ "$n" -ge 2 ] && [ "$n" -le "$most" ] ||
    fail "wanted the PIN asked every 3 s of use (at most $most), asked $n"
grep -q "maximum lifetime" "$T/life/log" || fail "no lifetime lock in the log"
stop_agent
pass "maximum lifetime re-asks"

# A PIN file and no pinentry: expired means locked until p11 unlock.
start_agent file --module "$P11AGENT_TEST_MODULE" \
    --pin-file "$P11AGENT_TEST_PINFILE" --pin-max-lifetime 2
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" >/dev/null
sleep 3.5
expect_fail 1 "locked" p11 sign --key carol --alg ecdsa-sha256 --in "$T/m"
p11 unlock </dev/null
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" >/dev/null
stop_agent
# Bad values are usage errors.
expect_fail 2 "seconds" p11agent --pin-max-lifetime -1 --module x
expect_fail 2 "seconds" p11agent --pin-max-lifetime abc --module x
pass "pin cache expiry"
