#!/bin/sh
# SPDX-License-Identifier: ISC
# RSA PKCS#1 v1.5 signatures through the OpenSSL provider: openssl
# pkeyutl (a digest, and a bare DigestInfo) and openssl dgst, for every
# SHA-2 size, made with p11agent: keys and verified by plain openssl with
# the certificate alone.
. "$(dirname "$0")/provider-lib.sh"
use_shared_agent

printf 'message signed through the provider\n' >"$T/msg"
for who in alice bob; do
	for h in sha256 sha384 sha512; do
		openssl dgst -"$h" -binary "$T/msg" >"$T/d"
		# shellcheck disable=SC2086
		openssl pkeyutl $PROV -sign \
		    -inkey "p11agent:$who@bigcorp.example" \
		    -pkeyopt digest:"$h" -in "$T/d" -out "$T/sig"
		openssl pkeyutl -verify -certin -inkey "$(cert "$who")" \
		    -pkeyopt digest:"$h" -in "$T/d" -sigfile "$T/sig" \
		    >/dev/null ||
		    fail "$who pkeyutl $h does not verify"
		# shellcheck disable=SC2086
		openssl dgst $PROV -"$h" -sign "p11agent:$who@bigcorp.example" \
		    -out "$T/sig2" "$T/msg"
		openssl dgst -"$h" -verify "$(pubkey "$who")" -signature "$T/sig2" \
		    "$T/msg" >/dev/null || fail "$who dgst $h does not verify"
		pass "$who rsa-pkcs1-$h"
	done
done

# No digest set: the input is a DigestInfo, signed as it is.
openssl dgst -sha256 -binary "$T/msg" >"$T/d"
# DigestInfo prefix for SHA-256 (RFC 8017 9.2, note 1), in octal.
{ printf '\060\061\060\015\006\011\140\206\110\001\145\003'
  printf '\004\002\001\005\000\004\040'
  cat "$T/d"; } >"$T/di"
# shellcheck disable=SC2086
openssl pkeyutl $PROV -sign -inkey p11agent:alice@bigcorp.example \
    -in "$T/di" -out "$T/sig3"
openssl pkeyutl -verify -certin -inkey "$(cert alice)" -in "$T/di" \
    -sigfile "$T/sig3" >/dev/null || fail "DigestInfo signature"
pass "raw DigestInfo"

# The same signature must not verify another message.
printf 'another message\n' >"$T/msg2"
! openssl dgst -sha512 -verify "$(pubkey bob)" -signature "$T/sig2" \
    "$T/msg2" >/dev/null 2>&1 || fail "tampered message verifies"
pass "tampered message rejected"
