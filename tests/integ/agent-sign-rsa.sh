#!/bin/sh
# SPDX-License-Identifier: ISC
# Every RSA fixture key signs with PKCS#1 v1.5 and PSS for each hash, and
# OpenSSL verifies each signature with the certificate's public key.
. "$(dirname "$0")/lib.sh"
use_shared_agent

printf 'message for rsa signing\n' >"$T/msg"
for who in alice bob; do
	pub=$(pubkey $who)
	for h in sha256 sha384 sha512; do
		openssl dgst -$h -binary "$T/msg" >"$T/d"
		hex=$(od -An -tx1 -v "$T/d" | tr -d ' \n')

		p11 sign --key "$who@bigcorp.example" --alg rsa-pkcs1-$h \
		    --digest "$hex" --out "$T/sig"
		openssl pkeyutl -verify -pubin -inkey "$pub" -in "$T/d" \
		    -sigfile "$T/sig" -pkeyopt digest:$h >/dev/null ||
		    fail "$who rsa-pkcs1-$h does not verify"
		# --in hashes on the client: openssl dgst verifies the file.
		p11 sign --key $who --alg rsa-pkcs1-$h --in "$T/msg" --out "$T/sig2"
		openssl dgst -$h -verify "$pub" -signature "$T/sig2" "$T/msg" \
		    >/dev/null || fail "$who --in rsa-pkcs1-$h does not verify"

		p11 sign --key $who --alg rsa-pss-$h --digest "$hex" --out "$T/pss"
		openssl pkeyutl -verify -pubin -inkey "$pub" -in "$T/d" \
		    -sigfile "$T/pss" -pkeyopt digest:$h \
		    -pkeyopt rsa_padding_mode:pss \
		    -pkeyopt rsa_pss_saltlen:digest >/dev/null ||
		    fail "$who rsa-pss-$h does not verify"
		pass "$who $h pkcs1 and pss"
	done
	# A signature over another digest must not verify (the check can fail).
	openssl dgst -sha256 -binary /dev/null >"$T/d0"
	! openssl pkeyutl -verify -pubin -inkey "$pub" -in "$T/d0" \
	    -sigfile "$T/sig" -pkeyopt digest:sha512 >/dev/null 2>&1 ||
	    fail "verification accepts a wrong digest"
done

# hex on stdout when --out is absent
hex=$(openssl dgst -sha256 -binary "$T/msg" | od -An -tx1 -v | tr -d ' \n')
p11 sign --key alice --alg rsa-pkcs1-sha256 --digest "$hex" >"$T/sighex"
grep -Eq '^[0-9a-f]{512}$' "$T/sighex" || fail "stdout is not lowercase hex"
