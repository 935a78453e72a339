#!/bin/sh
# SPDX-License-Identifier: ISC
# openssl cms -sign with p11agent: keys (RSA PKCS#1 v1.5 and PSS, ECDSA
# P-256 and P-384), verified by plain openssl cms -verify against the
# fixture CA; the signed message carries the intermediate certificate.
# A changed message must not verify.
. "$(dirname "$0")/provider-lib.sh"
use_shared_agent

printf 'Content-Type: text/plain\r\n\r\nsigned through the provider\r\n' \
    >"$T/msg"
n=0
check() {
	who=$1; shift
	n=$((n + 1))
	# shellcheck disable=SC2086
	openssl cms -sign $PROV -binary -nodetach -outform DER \
	    -signer "$(cert "$who")" -certfile "$CERTS/intermediate.pem" \
	    -inkey "p11agent:$who@bigcorp.example" "$@" \
	    -in "$T/msg" -out "$T/s$n.der"
	openssl cms -verify -binary -inform DER -in "$T/s$n.der" \
	    -CAfile "$CERTS/root.pem" -out "$T/out$n" 2>"$T/verr" ||
	    { cat "$T/verr" >&2; fail "cms $who $* does not verify"; }
	cmp -s "$T/msg" "$T/out$n" || fail "cms $who $*: content differs"
	pass "cms sign $who $*"
}
check alice
check alice -md sha512
check alice -keyopt rsa_padding_mode:pss
check bob -md sha384 -keyopt rsa_padding_mode:pss
check carol
check dave -md sha384

# The PSS signer info names RSASSA-PSS with the salt length used.
openssl cms -cmsout -print -inform DER -in "$T/s3.der" >"$T/p"
grep -q "rsassaPss" "$T/p" || fail "PSS signer info lacks rsassaPss"

# Detached signature over a changed message.
# shellcheck disable=SC2086
openssl cms -sign $PROV -binary -outform DER -signer "$(cert carol)" \
    -certfile "$CERTS/intermediate.pem" \
    -inkey p11agent:carol@bigcorp.example -in "$T/msg" -out "$T/det.der"
openssl cms -verify -binary -inform DER -in "$T/det.der" -content "$T/msg" \
    -CAfile "$CERTS/root.pem" -out /dev/null 2>/dev/null ||
    fail "detached signature does not verify"
printf 'Content-Type: text/plain\r\n\r\nsigned through the provider!\r\n' \
    >"$T/msg2"
! openssl cms -verify -binary -inform DER -in "$T/det.der" \
    -content "$T/msg2" -CAfile "$CERTS/root.pem" -out /dev/null \
    2>/dev/null || fail "changed message verifies"
pass "changed message rejected"
