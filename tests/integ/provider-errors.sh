#!/bin/sh
# SPDX-License-Identifier: ISC
# Agent errors reach openssl(1) as one readable line: a locked agent
# gives "p11agent: agent is locked" (sign and decrypt), a missing agent
# "p11agent: agent not reachable", a failed unwrap "p11agent: decryption
# failed"; after unlock the same commands work.
. "$(dirname "$0")/provider-lib.sh"
need_fixture
# shellcheck disable=SC2046
start_agent pe $(token_opts)

printf 'x\n' >"$T/m"
openssl dgst -sha256 -binary "$T/m" >"$T/d"
openssl rand 32 >"$T/k"
openssl pkeyutl -encrypt -certin -inkey "$(cert alice)" -in "$T/k" \
    -out "$T/w"
p11 lock
# shellcheck disable=SC2086
expect_fail 1 "p11agent: agent is locked" openssl pkeyutl $PROV -sign \
    -inkey p11agent:alice@bigcorp.example -pkeyopt digest:sha256 \
    -in "$T/d" -out "$T/sig"
# shellcheck disable=SC2086
expect_fail 1 "p11agent: agent is locked" openssl pkeyutl $PROV -decrypt \
    -inkey p11agent:alice@bigcorp.example -in "$T/w" -out "$T/k2"
[ ! -s "$T/k2" ] || fail "output written while locked"
pass "locked agent"

p11 unlock </dev/null
# shellcheck disable=SC2086
openssl pkeyutl $PROV -decrypt -inkey p11agent:alice@bigcorp.example \
    -in "$T/w" -out "$T/k3"
cmp -s "$T/k" "$T/k3" || fail "decrypt after unlock"
head -c 256 /dev/urandom >"$T/junk"
# shellcheck disable=SC2086
expect_fail 1 "p11agent: decryption failed" openssl pkeyutl $PROV -decrypt \
    -inkey p11agent:alice@bigcorp.example -in "$T/junk" -out "$T/k4"
pass "unlock, failed unwrap"

stop_agent
# shellcheck disable=SC2086
expect_fail 1 "p11agent: agent not reachable" openssl storeutl $PROV \
    -noout p11agent:alice@bigcorp.example
pass "agent not reachable"
