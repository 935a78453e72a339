#!/bin/sh
# SPDX-License-Identifier: ISC
# openssl cms -encrypt to the fixture certificates, openssl cms -decrypt
# with p11agent: keys: RSA key transport (PKCS#1 v1.5, OAEP with SHA-1
# and SHA-256), ECDH key agreement (RFC 5753 stdDH with the SHA-256 and
# SHA-384 X9.63 KDF, P-256 and P-384), and AuthEnvelopedData (AES-GCM)
# for both kinds. The plaintext comes back byte for byte.
. "$(dirname "$0")/provider-lib.sh"
use_shared_agent

head -c 3000 /dev/urandom >"$T/msg"
n=0
roundtrip() {
	who=$1; cipher=$2; shift 2
	n=$((n + 1))
	openssl cms -encrypt -binary -"$cipher" -in "$T/msg" -out "$T/e$n" \
	    -outform DER -recip "$(cert "$who")" "$@"
	# shellcheck disable=SC2086
	openssl cms -decrypt $PROV -binary -inform DER -in "$T/e$n" \
	    -recip "$(cert "$who")" -inkey "p11agent:$who@bigcorp.example" \
	    -out "$T/d$n" || fail "cms decrypt $who $cipher $*"
	cmp -s "$T/msg" "$T/d$n" ||
	    fail "cms $who $cipher $*: plaintext differs"
	pass "cms decrypt $who $cipher $*"
}
roundtrip bob aes-256-cbc
roundtrip alice aes-128-cbc -keyopt rsa_padding_mode:oaep
roundtrip bob aes-256-cbc -keyopt rsa_padding_mode:oaep \
    -keyopt rsa_oaep_md:sha256
roundtrip carol aes-256-cbc
roundtrip carol aes-128-cbc -keyopt ecdh_kdf_md:sha384
roundtrip dave aes-256-cbc
roundtrip bob aes-256-gcm
roundtrip dave aes-256-gcm

# Another recipient's key must not open the message.
openssl cms -encrypt -binary -aes-256-cbc -in "$T/msg" -out "$T/ea" \
    -outform DER "$(cert alice)"
# shellcheck disable=SC2086
if openssl cms -decrypt $PROV -binary -inform DER -in "$T/ea" \
    -inkey p11agent:bob@bigcorp.example -out "$T/da" 2>/dev/null &&
    cmp -s "$T/msg" "$T/da"; then
	fail "bob's key opened alice's message"
fi
pass "wrong key does not decrypt"
