#!/bin/sh
# SPDX-License-Identifier: ISC
# p11 lock logs out: signing then fails with "agent is locked" (exit 1),
# status shows the lock; p11 unlock (the agent's PIN source, or a PIN on
# --pin-fd) logs in again and signing works; a wrong PIN is refused.
. "$(dirname "$0")/lib.sh"
need_fixture
# Wrong PINs make SoftHSM rewrite the token file; on the shared fixture
# that races other tests' logins (CKR_GENERAL_ERROR). Use a copy.
. "$P11AGENT_SRC/tests/integ/token-lib.sh"
private_token
# shellcheck disable=SC2046
start_agent l $(token_opts)

printf 'x' >"$T/m"
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" >/dev/null
p11 lock
p11 status | grep -qi "locked" || fail "status does not show the lock"
expect_fail 1 "locked" p11 sign --key carol --alg ecdsa-sha256 --in "$T/m"
openssl rand 16 >"$T/k"
openssl pkeyutl -encrypt -pubin -inkey "$(pubkey alice)" -in "$T/k" -out "$T/w"
expect_fail 1 "locked" p11 decrypt --key alice --alg rsa-pkcs1 --in "$T/w"
p11 unlock </dev/null
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" >/dev/null ||
    fail "sign after unlock"
p11 lock
printf '000000\n' >"$T/wrong"
expect_fail 1 "PIN incorrect|incorrect" p11 unlock --pin-fd 3 3<"$T/wrong"
expect_fail 1 "locked" p11 sign --key carol --alg ecdsa-sha256 --in "$T/m"
# Each failed unlock doubles the wait before the next attempt (1, 2, 4 s).
# After three failures an immediate retry, even with the right PIN, is
# refused: the 4 s window keeps this check independent of machine load.
sleep 1.5
expect_fail 1 "PIN incorrect|incorrect" p11 unlock --pin-fd 3 3<"$T/wrong"
sleep 2.5
expect_fail 1 "PIN incorrect|incorrect" p11 unlock --pin-fd 3 3<"$T/wrong"
expect_fail 1 "try again" p11 unlock --pin-fd 3 3<"$P11AGENT_TEST_PINFILE"
sleep 4.5
p11 unlock --pin-fd 3 3<"$P11AGENT_TEST_PINFILE"
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" >/dev/null
pass "lock and unlock"
