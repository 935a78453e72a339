#!/bin/sh
# SPDX-License-Identifier: ISC
# Loading the provider leaves software keys alone, in either provider
# order: openssl signs, encrypts to and decrypts with file keys exactly
# as without p11agent, while p11agent: keys still sign and decrypt. (With
# "-provider p11agent" first, OpenSSL 3.0 offers our key management for
# new keys and key generation is refused: load "default" first for that.)
. "$(dirname "$0")/provider-lib.sh"
use_shared_agent

printf 'order test\n' >"$T/msg"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$T/rsa.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$T/ec.pem"
for k in rsa ec; do
	openssl req -new -x509 -days 1 -key "$T/$k.pem" -subj "/CN=$k" \
	    -out "$T/$k.crt"
done
for order in "-provider p11agent -provider default" \
    "-provider default -provider p11agent"; do
	for k in rsa ec; do
		# shellcheck disable=SC2086
		openssl cms -sign $order -binary -nodetach -signer "$T/$k.crt" \
		    -inkey "$T/$k.pem" -in "$T/msg" -out "$T/s.p7m"
		openssl cms -verify -binary -noverify -in "$T/s.p7m" \
		    -out /dev/null 2>/dev/null || fail "$order: $k file sign"
		# shellcheck disable=SC2086
		openssl cms -encrypt $order -binary -aes-256-cbc -in "$T/msg" \
		    -out "$T/e.p7m" "$T/$k.crt"
		# shellcheck disable=SC2086
		openssl cms -decrypt $order -binary -recip "$T/$k.crt" \
		    -inkey "$T/$k.pem" -in "$T/e.p7m" -out "$T/d"
		cmp -s "$T/msg" "$T/d" || fail "$order: $k file decrypt"
	done
	# shellcheck disable=SC2086
	openssl cms -sign $order -binary -nodetach -signer "$(cert carol)" \
	    -inkey p11agent:carol@bigcorp.example -in "$T/msg" \
	    -out "$T/s2.p7m"
	openssl cms -verify -binary -noverify -in "$T/s2.p7m" -out /dev/null \
	    2>/dev/null || fail "$order: agent key sign"
	openssl cms -encrypt -binary -aes-256-cbc -in "$T/msg" \
	    -out "$T/e2.p7m" "$(cert bob)"
	# shellcheck disable=SC2086
	openssl cms -decrypt $order -binary -recip "$(cert bob)" \
	    -inkey p11agent:bob@bigcorp.example -in "$T/e2.p7m" -out "$T/d2"
	cmp -s "$T/msg" "$T/d2" || fail "$order: agent key decrypt"
	pass "$order"
done
# shellcheck disable=SC2086
openssl genpkey -provider default -provider p11agent -algorithm EC \
    -pkeyopt ec_paramgen_curve:P-256 -out /dev/null ||
    fail "key generation with default first"
pass "key generation"
