#!/bin/sh
# SPDX-License-Identifier: ISC
# ECDSA through the OpenSSL provider, P-256 (carol) and P-384 (dave):
# openssl dgst -sign and pkeyutl -sign, with a digest set and without
# (the digest length names the hash), verified by plain openssl.
. "$(dirname "$0")/provider-lib.sh"
use_shared_agent

printf 'message for ecdsa through the provider\n' >"$T/msg"
for who in carol dave; do
	for h in sha256 sha384 sha512; do
		# shellcheck disable=SC2086
		openssl dgst $PROV -"$h" -sign "p11agent:$who@bigcorp.example" \
		    -out "$T/sig" "$T/msg"
		openssl dgst -"$h" -verify "$(pubkey "$who")" -signature "$T/sig" \
		    "$T/msg" >/dev/null || fail "$who dgst $h does not verify"
		openssl dgst -"$h" -binary "$T/msg" >"$T/d"
		# shellcheck disable=SC2086
		openssl pkeyutl $PROV -sign -inkey "p11agent:label=$who" \
		    -in "$T/d" -out "$T/sig2"
		openssl pkeyutl -verify -pubin -inkey "$(pubkey "$who")" \
		    -in "$T/d" -sigfile "$T/sig2" >/dev/null ||
		    fail "$who pkeyutl $h does not verify"
		pass "$who ecdsa-$h"
	done
done

# A digest set on the context must match the input length.
openssl dgst -sha256 -binary "$T/msg" >"$T/d"
# shellcheck disable=SC2086
expect_fail 1 "p11agent: input is 32 bytes" openssl pkeyutl $PROV -sign \
    -inkey p11agent:carol@bigcorp.example -pkeyopt digest:sha384 \
    -in "$T/d" -out "$T/sig3"
pass "digest length checked"
