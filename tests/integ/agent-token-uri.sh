#!/bin/sh
# SPDX-License-Identifier: ISC
# --token URIs are p11-kit's to parse and match (in the p11-kit helper):
# a malformed URI, or one with an attribute p11-kit does not know, stops
# the start with p11-kit's reason in one line (exit 1); module-path,
# module-name, slot-id and the token's attributes select as RFC 7512
# says.
. "$(dirname "$0")/lib.sh"
need_fixture
L=$P11AGENT_TEST_TOKEN_LABEL
mkdir -p "$T/x"
chmod 700 "$T/x"
# shellcheck disable=SC2046
run() {
	timeout 60 p11agent --foreground --socket "$T/x/sock" \
	    --agent-key "$T/x/agent.key" $(token_opts) "$@"
}
bad_uri() {
	expect_fail 1 "^p11agent: token_open: token uri \"$1\": $2\$" \
	    run --token "$1"
	[ "$(wc -l <"$T/ef.err")" -eq 1 ] ||
	    { cat "$T/ef.err" >&2; fail "$1: more than one line"; }
}
bad_uri "pkcs11:token=%zz" "URI encoding invalid or corrupted"
bad_uri "pkcs11:token=$L;bogus=1" "unrecognized attribute"
pass "bad URIs: p11-kit's reason"

expect_fail 1 "no matching token" run --token "pkcs11:token=$L-not"
expect_fail 1 "no matching token" \
    run --token "pkcs11:token=$L?module-path=/nonexistent/module.so"
expect_fail 1 "no matching token" \
    run --token "pkcs11:token=$L?module-name=no-such-module"
# shellcheck disable=SC2046
start_agent p $(token_opts) \
    --token "pkcs11:token=$L?module-path=$P11AGENT_TEST_MODULE"
p11 keys | grep -q 'label="carol"' || fail "module-path: no carol"
slot=$(sed -n 's/.* in slot \([0-9]*\) of .*/\1/p' "$T/p/log")
[ -n "$slot" ] || fail "no slot in the log"
stop_agent
# shellcheck disable=SC2046
start_agent s $(token_opts) --token "pkcs11:slot-id=$slot"
p11 keys | grep -q 'label="carol"' || fail "slot-id: no carol"
stop_agent
expect_fail 1 "no matching token" \
    run --token "pkcs11:slot-id=$((slot + 1))"
pass "module-path, slot-id"

# A module by its p11-kit name, and module-name, where SoftHSM is
# registered with p11-kit (Debian's softhsm2 package does that).
confdir=$(pkg-config --variable=p11_module_configs p11-kit-1 2>/dev/null ||
    true)
if [ -f "${confdir:-/usr/share/p11-kit/modules}/softhsm2.module" ]; then
	start_agent n --module softhsm2 --pin-file "$P11AGENT_TEST_PINFILE" \
	    --token "pkcs11:token=$L?module-name=softhsm2"
	p11 keys | grep -q 'label="carol"' || fail "module-name: no carol"
	stop_agent
	# shellcheck disable=SC2046
	start_agent m $(token_opts) \
	    --token "pkcs11:token=$L?module-name=softhsm2"
	p11 keys | grep -q 'label="carol"' || fail "path, module-name: no carol"
	stop_agent
	pass "module names"
else
	echo "softhsm2 is not registered with p11-kit: module names not tested"
fi
