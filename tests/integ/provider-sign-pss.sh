#!/bin/sh
# SPDX-License-Identifier: ISC
# RSA-PSS through the OpenSSL provider: salt = digest length, MGF1 = the
# digest, verified by plain openssl insisting on that salt length. What
# the agent cannot do (another salt length, another MGF1 digest, PSS with
# SHA-1) fails with a clear p11agent error instead of a wrong signature.
. "$(dirname "$0")/provider-lib.sh"
use_shared_agent

printf 'message for pss through the provider\n' >"$T/msg"
for h in sha256 sha384 sha512; do
	case $h in sha256) s=32 ;; sha384) s=48 ;; sha512) s=64 ;; esac
	# shellcheck disable=SC2086
	openssl dgst $PROV -"$h" -sigopt rsa_padding_mode:pss \
	    -sign p11agent:bob@bigcorp.example -out "$T/sig" "$T/msg"
	openssl dgst -"$h" -sigopt rsa_padding_mode:pss \
	    -sigopt rsa_pss_saltlen:"$s" -verify "$(pubkey bob)" \
	    -signature "$T/sig" "$T/msg" >/dev/null ||
	    fail "dgst pss $h does not verify"
	openssl dgst -"$h" -binary "$T/msg" >"$T/d"
	# shellcheck disable=SC2086
	openssl pkeyutl $PROV -sign -inkey p11agent:alice@bigcorp.example \
	    -pkeyopt digest:"$h" -pkeyopt rsa_padding_mode:pss \
	    -pkeyopt rsa_pss_saltlen:digest -in "$T/d" -out "$T/sig2"
	openssl pkeyutl -verify -pubin -inkey "$(pubkey alice)" \
	    -pkeyopt digest:"$h" -pkeyopt rsa_padding_mode:pss \
	    -pkeyopt rsa_pss_saltlen:"$s" -in "$T/d" -sigfile "$T/sig2" \
	    >/dev/null || fail "pkeyutl pss $h does not verify"
	pass "rsa-pss-$h"
done

openssl dgst -sha256 -binary "$T/msg" >"$T/d"
for opt in rsa_pss_saltlen:max rsa_pss_saltlen:20 rsa_mgf1_md:sha512; do
	# shellcheck disable=SC2086
	expect_fail 1 "p11agent: the agent (signs PSS|uses MGF1)" \
	    openssl pkeyutl $PROV -sign -inkey p11agent:alice@bigcorp.example \
	    -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
	    -pkeyopt $opt -in "$T/d" -out "$T/bad"
	pass "refused: $opt"
done
openssl dgst -sha1 -binary "$T/msg" >"$T/d1"
# shellcheck disable=SC2086
expect_fail 1 "p11agent: the agent does not sign PSS with SHA1" \
    openssl pkeyutl $PROV -sign -inkey p11agent:alice@bigcorp.example \
    -pkeyopt digest:sha1 -pkeyopt rsa_padding_mode:pss -in "$T/d1" \
    -out "$T/bad"
pass "refused: pss-sha1"
