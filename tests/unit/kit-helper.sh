#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# kit-helper.sh HELPER - p11agent-p11kit answers the requests of
# agent/kit.h with p11-kit's results and treats its input as a peer's: a
# malformed request, bad hex, a missing newline or an overlong line ends
# it with one line on stderr and status 2, before it answers anything.
# No token needed: only URI requests (module would load every registered
# module).
set -eu
helper=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/p11agent-kit.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
pad() { printf "%-$2s" "$1" | od -An -v -tx1 | tr -d ' \n'; }

# ask EXPECTED REQUEST...: one answer per request, in order.
ask() {
	want=$1; shift
	printf '%s\n' "$@" | "$helper" 1 >"$T/out" 2>"$T/err" ||
	    { cat "$T/err" >&2; fail "$*: exit status $?"; }
	printf '%s\n' "$want" | cmp -s - "$T/out" ||
	    { cat "$T/out" >&2; fail "$*: wanted $want"; }
}
# refuses MESSAGE INPUT: exit 2, MESSAGE on stderr, nothing answered.
refuses() {
	set +e
	printf '%b' "$2" | "$helper" 1 >"$T/out" 2>"$T/err"
	st=$?
	set -e
	[ "$st" -eq 2 ] || fail "$2: exit status $st, wanted 2"
	grep -q "^p11agent-p11kit: request 1: $1\$" "$T/err" ||
	    { cat "$T/err" >&2; fail "$2: no \"$1\""; }
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "$2: more than one line"
	[ ! -s "$T/out" ] || fail "$2: answered"
}

ask "ok 0" "uri $(hex 'pkcs11:token=demo')"
ask "ok 1" "uri $(hex 'pkcs11:token=demo?module-name=softhsm2')"
ask "err URI encoding invalid or corrupted" "uri $(hex 'pkcs11:token=%zz')"
ask "err unrecognized attribute" "uri $(hex 'pkcs11:token=x;bogus=1')"

ti=$(pad demo 32)$(pad "SoftHSM project" 32)$(pad "SoftHSM v2" 16)$(pad 1234 16)
mi=$(pad "Implementation of PKCS11" 32)$(pad SoftHSM 32)0206
si=$(pad "SoftHSM slot ID 0x7" 64)$(pad "SoftHSM project" 32)
tok="model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=1234;token=demo"
ask "ok pkcs11:$tok;id=%01%FF;object=alice%20key;type=private" \
    "keyuri $ti $(hex 'alice key') 01ff"
ask "ok pkcs11:$tok;type=private" "keyuri $ti - -"
m() { echo "match $(hex "$1") $2 $(hex /lib/x.so) 7 $mi $si $ti"; }
ask "yes" "$(m 'pkcs11:token=demo;serial=1234' -)"
ask "no" "$(m 'pkcs11:token=other' -)"
ask "yes" "$(m 'pkcs11:slot-id=7;slot-manufacturer=SoftHSM%20project' -)"
ask "no" "$(m 'pkcs11:slot-id=8' -)"
ask "yes" "$(m 'pkcs11:library-manufacturer=SoftHSM;library-version=2.6' -)"
ask "yes" "$(m 'pkcs11:token=demo?module-path=/lib/x.so' -)"
ask "no" "$(m 'pkcs11:token=demo?module-path=/lib/y.so' -)"
ask "yes" "$(m 'pkcs11:token=demo?module-name=softhsm2' "$(hex softhsm2)")"
# A module p11-kit has no name for never matches a module-name.
ask "no" "$(m 'pkcs11:token=demo?module-name=softhsm2' -)"
# Several requests, one answer each, in order.
printf 'uri %s\nuri %s\n' "$(hex pkcs11:)" "$(hex pkcs11:a=b)" |
    "$helper" 1 >"$T/out"
printf 'ok 0\nerr unrecognized attribute\n' | cmp -s - "$T/out" ||
    fail "two requests"
echo "ok: answers"

refuses "unknown request" 'frobnicate 00\n'
refuses "bad hex field" 'uri zz\n'
refuses "bad hex field" 'uri 616\n'
refuses "NUL byte in a string" 'uri 7000\n'
refuses "missing field" 'uri\n'
refuses "extra field" "uri $(hex pkcs11:) 00\n"
refuses "bad info field" "keyuri 00 - -\n"
refuses "bad slot id" "match 61 - - 99999999999999999999999 $mi $si $ti\n"
refuses "bad slot id" "match 61 - - -1 $mi $si $ti\n"
refuses "no newline at the end of the input" "uri $(hex pkcs11:)"
refuses "NUL byte" 'uri \0000\n'
head -c 40000 /dev/zero | tr '\0' a >"$T/long"
refuses "line too long" "uri $(cat "$T/long")\n"
# Started by anything but the agent (another protocol version): refused.
set +e
"$helper" 2 </dev/null 2>"$T/err"
st=$?
set -e
[ "$st" -eq 2 ] && grep -q "protocol 1" "$T/err" || fail "protocol 2 accepted"
echo "ok: malformed input refused"
