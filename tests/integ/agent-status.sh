#!/bin/sh
# SPDX-License-Identifier: ISC
# p11 status names the token, says it is logged in and counts its keys;
# the independent Python client speaks the same protocol (PROTOCOL.md is
# exact enough to implement from).
. "$(dirname "$0")/lib.sh"
use_shared_agent
p11 status >"$T/st"
cat "$T/st"
grep -q "p11agent-demo" "$T/st" || fail "token label missing"
grep -qi "logged in" "$T/st" || fail "login state missing"
grep -Eq "keys:[[:space:]]+4" "$T/st" || fail "key count missing"
/usr/bin/python3 "$P11AGENT_SRC/tests/integ/noiseclient.py" "$P11AGENT_SOCK" \
    "$P11AGENT_SOCK.pub" status || fail "independent client"
