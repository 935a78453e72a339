#!/bin/sh
# SPDX-License-Identifier: ISC
# openssl req with p11agent: keys: certificate requests (RSA PKCS#1 v1.5
# and PSS, ECDSA) carry the key's public half and a self-signature that
# plain openssl verifies; a self-signed certificate verifies too.
. "$(dirname "$0")/provider-lib.sh"
use_shared_agent

n=0
csr() {
	who=$1; shift
	n=$((n + 1))
	# shellcheck disable=SC2086
	openssl req $PROV -new -key "p11agent:$who@bigcorp.example" \
	    -subj "/O=BigCorp/CN=$who csr" "$@" -out "$T/r$n.csr"
	openssl req -in "$T/r$n.csr" -verify -noout 2>"$T/verr" ||
	    { cat "$T/verr" >&2; fail "csr $who $* does not verify"; }
	openssl req -in "$T/r$n.csr" -noout -pubkey >"$T/r$n.pub"
	cmp -s "$T/r$n.pub" "$(pubkey "$who")" ||
	    fail "csr $who: wrong public key"
	pass "csr $who $*"
}
csr alice
csr bob -sha512
csr alice -sigopt rsa_padding_mode:pss
csr carol
csr dave -sha384
openssl req -in "$T/r3.csr" -noout -text | grep -q rsassaPss ||
    fail "PSS request is not rsassaPss"
openssl req -in "$T/r5.csr" -noout -text | grep -q ecdsa-with-SHA384 ||
    fail "dave's request is not ecdsa-with-SHA384"

# shellcheck disable=SC2086
openssl req $PROV -new -x509 -days 1 -key p11agent:carol@bigcorp.example \
    -subj "/CN=carol self-signed" -out "$T/self.pem"
openssl verify -CAfile "$T/self.pem" "$T/self.pem" >/dev/null ||
    fail "self-signed certificate does not verify"
pass "self-signed certificate"
