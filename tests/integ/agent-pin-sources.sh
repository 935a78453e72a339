#!/bin/sh
# SPDX-License-Identifier: ISC
# PIN sources: a group/world-readable PIN file is refused, a wrong PIN
# stops start-up with a clear error (and is not retried), --pin-fd works.
. "$(dirname "$0")/lib.sh"
need_fixture
# Wrong PINs make SoftHSM rewrite the token file; on the shared fixture
# that races other tests' logins (CKR_GENERAL_ERROR). Use a copy.
. "$P11AGENT_SRC/tests/integ/token-lib.sh"
private_token

cp "$P11AGENT_TEST_PINFILE" "$T/pin"
chmod 644 "$T/pin"
expect_fail 1 "permission|0600|mode" p11agent --foreground --socket "$T/s1" \
    --agent-key "$T/k" --module "$P11AGENT_TEST_MODULE" --pin-file "$T/pin"
chmod 600 "$T/pin"
printf '999999' >"$T/wrongpin"
chmod 600 "$T/wrongpin"
expect_fail 1 "PIN incorrect|incorrect" p11agent --foreground --socket "$T/s2" \
    --agent-key "$T/k" --module "$P11AGENT_TEST_MODULE" --pin-file "$T/wrongpin"
[ ! -e "$T/s2" ] || fail "socket left after failed start"
# --pin-fd: the PIN comes through an inherited descriptor.
start_agent fd --module "$P11AGENT_TEST_MODULE" --pin-fd 3 3<"$P11AGENT_TEST_PINFILE"
p11 status | grep -q "p11agent-demo" || fail "--pin-fd agent has no token"
printf 'x' >"$T/m"
p11 sign --key dave --alg ecdsa-sha384 --in "$T/m" >/dev/null
pass "pin sources"
