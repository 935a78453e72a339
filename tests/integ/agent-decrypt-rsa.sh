#!/bin/sh
# SPDX-License-Identifier: ISC
# RSA key unwrap: random keys wrapped by OpenSSL with PKCS#1 v1.5, OAEP
# SHA-1 and OAEP SHA-256 come back out of the token unchanged; a damaged
# wrap fails with the one generic "decryption failed".
. "$(dirname "$0")/lib.sh"
use_shared_agent

for who in alice bob; do
	pub=$(pubkey $who)
	for mode in rsa-pkcs1 rsa-oaep-sha1 rsa-oaep-sha256; do
		openssl rand 32 >"$T/key"
		case $mode in
		rsa-pkcs1) opts="-pkeyopt rsa_padding_mode:pkcs1" ;;
		rsa-oaep-sha1) opts="-pkeyopt rsa_padding_mode:oaep" ;;
		rsa-oaep-sha256) opts="-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256" ;;
		esac
		# shellcheck disable=SC2086
		openssl pkeyutl -encrypt -pubin -inkey "$pub" $opts \
		    -in "$T/key" -out "$T/wrapped"
		p11 decrypt --key $who --alg $mode --in "$T/wrapped" --out "$T/out"
		cmp -s "$T/key" "$T/out" || fail "$who $mode unwrap differs"
		hex=$(od -An -tx1 -v "$T/wrapped" | tr -d ' \n')
		p11 decrypt --key $who --alg $mode --hex "$hex" >"$T/outhex"
		[ "$(cat "$T/outhex")" = "$(od -An -tx1 -v "$T/key" | tr -d ' \n')" ] ||
		    fail "$who $mode --hex output differs"
		pass "$who $mode"
	done
	# Flip a bit of byte 7 (overwriting it with a constant left it
	# unchanged 1 time in 256): generic failure, exit 1, no output file.
	b=$(od -An -tu1 -j7 -N1 "$T/wrapped" | tr -d ' ')
	# shellcheck disable=SC2059 # the format is the octal escape
	printf "\\$(printf '%03o' $((b ^ 1)))" |
	    dd of="$T/wrapped" bs=1 seek=7 conv=notrunc 2>/dev/null
	rm -f "$T/out"
	expect_fail 1 "decryption failed" \
	    p11 decrypt --key $who --alg rsa-oaep-sha256 --in "$T/wrapped" --out "$T/out"
	[ ! -e "$T/out" ] || fail "partial output left after a failed decrypt"
	# OAEP with the wrong hash also fails the same way.
	openssl pkeyutl -encrypt -pubin -inkey "$pub" -pkeyopt rsa_padding_mode:oaep \
	    -in "$T/key" -out "$T/w1"
	expect_fail 1 "decryption failed" \
	    p11 decrypt --key $who --alg rsa-oaep-sha256 --in "$T/w1"
done
