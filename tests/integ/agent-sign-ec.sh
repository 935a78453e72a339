#!/bin/sh
# SPDX-License-Identifier: ISC
# Every EC fixture key (P-256, P-384) signs with ECDSA for each hash; the
# DER Ecdsa-Sig-Value verifies unchanged with openssl pkeyutl and dgst.
. "$(dirname "$0")/lib.sh"
use_shared_agent

printf 'message for ecdsa signing\n' >"$T/msg"
for who in carol dave; do
	pub=$(pubkey $who)
	for h in sha256 sha384 sha512; do
		openssl dgst -$h -binary "$T/msg" >"$T/d"
		hex=$(od -An -tx1 -v "$T/d" | tr -d ' \n')
		p11 sign --key $who --alg ecdsa-$h --digest "$hex" --out "$T/sig"
		openssl pkeyutl -verify -pubin -inkey "$pub" -in "$T/d" \
		    -sigfile "$T/sig" >/dev/null ||
		    fail "$who ecdsa-$h does not verify"
		p11 sign --key $who --alg ecdsa-$h --in "$T/msg" --out "$T/sig2"
		openssl dgst -$h -verify "$pub" -signature "$T/sig2" "$T/msg" \
		    >/dev/null || fail "$who --in ecdsa-$h does not verify"
		pass "$who ecdsa-$h"
	done
	# Tampered message: the same signature must fail.
	printf 'other message\n' >"$T/msg2"
	! openssl dgst -sha512 -verify "$pub" -signature "$T/sig2" "$T/msg2" \
	    >/dev/null 2>&1 || fail "tampered message verifies"
done
