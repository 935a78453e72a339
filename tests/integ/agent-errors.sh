#!/bin/sh
# SPDX-License-Identifier: ISC
# Bad requests get typed, one-line errors with the right exit status:
# wrong algorithm for a key, wrong digest length, bad hex, unknown
# options (usage, 2), an unreachable agent (environment, 2).
. "$(dirname "$0")/lib.sh"
use_shared_agent

d32=$(printf '%064d' 0)
expect_fail 1 "algorithm|alg" p11 sign --key alice --alg ecdsa-sha256 --digest "$d32"
expect_fail 1 "algorithm|alg" p11 sign --key carol --alg rsa-pss-sha256 --digest "$d32"
expect_fail 1 "algorithm|alg|decrypt" p11 decrypt --key carol --alg rsa-pkcs1 --hex 00
# A digest of the wrong length is the caller's mistake: usage, exit 2.
expect_fail 2 "digest" p11 sign --key alice --alg rsa-pkcs1-sha384 --digest "$d32"
expect_fail 2 "." p11 sign --key alice --alg rsa-pkcs1-sha256 --digest xyz
expect_fail 2 "." p11 sign --key alice --alg no-such-alg --digest "$d32"
expect_fail 2 "." p11 sign --bogus-option
expect_fail 2 "." p11 no-such-command
expect_fail 2 "." p11 sign --key alice --alg rsa-pkcs1-sha256 --in /nonexistent/file
P11AGENT_SOCK=$T/nothing-here expect_fail 2 "not reachable|p11agent" p11 status
# --help everywhere, exit 0
for c in status keys sign decrypt derive lock unlock client-key; do
	p11 $c --help >"$T/h" 2>&1 || fail "p11 $c --help failed"
	grep -qi "usage" "$T/h" || fail "p11 $c --help prints no usage"
done
p11agent --help >"$T/h" 2>&1 || fail "p11agent --help failed"
pass "errors and help"
