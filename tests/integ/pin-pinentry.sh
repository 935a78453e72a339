#!/bin/sh
# SPDX-License-Identifier: ISC
# --pinentry: an agent started without a PIN asks a (scripted) pinentry
# on the first operation that needs it, with a description naming the
# token and the client; meanwhile the event loop answers others. A
# cancelled entry is a typed error; a wrong PIN gives "PIN incorrect" and
# is tried exactly once (one GETPIN, one C_Login), never again by itself;
# the PIN arrives %-escaped on a D line; p11 unlock asks the pinentry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/token-lib.sh"
need_fixture
private_token
fake_pinentry
start_agent a --module "$P11AGENT_TEST_MODULE" --pinentry "$PINENTRY" --debug
LOG=$T/a/log

p11 status | grep -q ": locked," || fail "agent without a PIN is not locked"
[ "$(lines "$T/pe/getpin")" -eq 0 ] || fail "asked for the PIN at start-up"
p11 keys | grep -q carol || fail "keys not listed before the first login"

# The first operation asks; the signature verifies.
printf 'first' >"$T/m"
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" --out "$T/sig"
verify_sig carol "$T/m" "$T/sig" || fail "signature after pinentry login"
[ "$(lines "$T/pe/getpin")" -eq 1 ] || fail "wanted one GETPIN"
grep -q 'token "p11agent-demo"' "$T/pe/desc" ||
    fail "description does not name the token: $(cat "$T/pe/desc")"
grep -Eq 'client "p11[^"]*" \(pid [0-9]+\)' "$T/pe/desc" ||
    fail "description does not name the client: $(cat "$T/pe/desc")"
# Logged in: no second question.
p11 sign --key alice --alg rsa-pkcs1-sha256 --in "$T/m" >/dev/null
[ "$(lines "$T/pe/getpin")" -eq 1 ] || fail "asked again while logged in"
pass "asked when first needed"

# While the pinentry is up (5 s), others are answered at once.
p11 lock
echo slow >"$T/pe/mode"
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" --out "$T/sig2" &
signer=$!
i=0
until [ "$(lines "$T/pe/getpin")" -eq 2 ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the pinentry was not asked"
	sleep 0.05
done
p11 status >/dev/null
p11 keys >/dev/null
kill -0 $signer 2>/dev/null || fail "status waited for the pinentry"
wait $signer || fail "sign waiting for a slow pinentry failed"
verify_sig carol "$T/m" "$T/sig2" || fail "signature after slow pinentry"
[ "$(lines "$T/pe/getpin")" -eq 2 ] || fail "wanted two GETPINs"
pass "event loop not stalled by the pinentry"

# Cancel: a typed error, and the agent stays locked.
p11 lock
echo cancel >"$T/pe/mode"
expect_fail 1 "PIN entry cancelled" \
    p11 sign --key carol --alg ecdsa-sha256 --in "$T/m"
[ "$(lines "$T/pe/getpin")" -eq 3 ] || fail "wanted three GETPINs"
p11 status | grep -q ": locked," || fail "not locked after a cancel"
pass "cancel"

# A wrong PIN: "PIN incorrect", one GETPIN, one C_Login, no retry.
sleep 2.5			# the wait after a cancel
echo ok >"$T/pe/mode"
printf '000000' >"$T/pe/pin"
expect_fail 1 "PIN incorrect" \
    p11 sign --key carol --alg ecdsa-sha256 --in "$T/m"
t0=$(now_ms)
[ "$(lines "$T/pe/getpin")" -eq 4 ] || fail "wanted four GETPINs"
# Right after a failure (2 s) the agent does not ask; it repeats the error.
expect_fail 1 "PIN incorrect" \
    p11 sign --key carol --alg ecdsa-sha256 --in "$T/m"
if [ $(($(now_ms) - t0)) -lt 1500 ]; then
	[ "$(lines "$T/pe/getpin")" -eq 4 ] || fail "asked again at once"
fi
asked=$(lines "$T/pe/getpin")
sleep 1
# Nothing asks by itself, and each wrong entry met exactly one C_Login.
[ "$(lines "$T/pe/getpin")" -eq "$asked" ] || fail "asked again by itself"
[ "$(grep -c 'C_Login: CKR_PIN_INCORRECT' "$LOG")" -eq $((asked - 3)) ] ||
    fail "a wrong PIN was tried more than once"
pass "wrong PIN not retried"

# Then it asks again, shows why, and takes a %-escaped PIN ("3" = %33).
sed 's/3/%33/' "$P11AGENT_TEST_PINFILE" >"$T/pe/pin"
t0=$(now_ms)
until p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" --out "$T/sig3" \
    2>"$T/err3"; do
	grep -q "PIN incorrect" "$T/err3" || fail "$(cat "$T/err3")"
	[ $(($(now_ms) - t0)) -lt 12000 ] || fail "never asked again"
	sleep 0.5
done
verify_sig carol "$T/m" "$T/sig3" || fail "signature after escaped PIN"
[ "$(lines "$T/pe/getpin")" -eq $((asked + 1)) ] || fail "one more GETPIN"
grep -qi "incorrect" "$T/pe/error" || fail "no SETERROR after a wrong PIN"

# p11 unlock without a PIN (no terminal) asks through the agent's
# pinentry and answers when the user has.
p11 lock
cat "$P11AGENT_TEST_PINFILE" >"$T/pe/pin"
p11 unlock </dev/null
p11 status | grep -q ": unlocked," || fail "not unlocked through pinentry"
[ "$(lines "$T/pe/getpin")" -eq $((asked + 2)) ] || fail "unlock: no GETPIN"
p11 lock
echo cancel >"$T/pe/mode"
expect_fail 1 "PIN entry cancelled" p11 unlock </dev/null
p11 status | grep -q ": locked," || fail "unlocked by a cancel"
! grep -q "$(cat "$P11AGENT_TEST_PINFILE")" "$LOG" || fail "PIN in the log"
stop_agent

# No pinentry to run: a clear error, and the agent keeps serving.
start_agent none --module "$P11AGENT_TEST_MODULE" \
    --pinentry "$T/no-such-pinentry"
expect_fail 1 "pinentry could not ask" \
    p11 sign --key carol --alg ecdsa-sha256 --in "$T/m"
p11 status >/dev/null || fail "agent gone after a missing pinentry"
pass "pinentry"
