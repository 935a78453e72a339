#!/bin/sh
# SPDX-License-Identifier: ISC
# With an authorized_clients file only the listed client keys may
# connect: others are refused with a typed error (exit 1); adding the
# key printed by `p11 client-key` lets the same client in.
. "$(dirname "$0")/lib.sh"
need_fixture

other=$(/usr/bin/python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')
printf '# test\n%s someone-else\n' "$other" >"$T/authorized"
chmod 600 "$T/authorized"
# shellcheck disable=SC2046
start_agent a $(token_opts) --authorized-clients "$T/authorized"
expect_fail 1 "not accept|not authorized" p11 status
/usr/bin/python3 "$P11AGENT_SRC/tests/integ/noiseclient.py" "$P11AGENT_SOCK" \
    "$P11AGENT_SOCK.pub" unauthorized 2>/dev/null && fail "bystander got in" || true
stop_agent

p11 client-key >"$T/me"
grep -Eq '^[A-Za-z0-9+/]{43}=' "$T/me" || fail "client-key output: $(cat "$T/me")"
printf '%s me\n' "$(cut -d' ' -f1 "$T/me")" >>"$T/authorized"
# shellcheck disable=SC2046
start_agent b $(token_opts) --authorized-clients "$T/authorized"
p11 status >/dev/null || fail "authorized client refused"
pass "authorized_clients"

# A malformed file stops the agent at start-up with the line number.
printf 'not-base64 x\n' >"$T/bad"
# shellcheck disable=SC2046
expect_fail 1 "line 1|:1" p11agent --foreground --socket "$T/c.sock" \
    --agent-key "$T/c.key" $(token_opts) --authorized-clients "$T/bad"
