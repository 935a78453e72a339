#!/bin/sh
# SPDX-License-Identifier: ISC
# The p11agent: store loader: openssl storeutl lists a key and its
# certificate for every way of naming it (e-mail, percent-encoded,
# label=, id= with the whole id or an 8-digit prefix, a bare id prefix,
# a pkcs11: URI), every key for "p11agent:", honours -certs / -keys and
# public-key loading, returns the certificate the token holds, and fails
# with a clear error for unknown keys and malformed URIs. The private key
# itself never comes out.
. "$(dirname "$0")/provider-lib.sh"
use_shared_agent

id=$(p11 keys --json | python3 -c '
import json, sys
print([k["id"] for k in json.load(sys.stdin) if k["label"] == "carol"][0])')
pre=$(echo "$id" | cut -c1-8)
for uri in "p11agent:carol@bigcorp.example" \
    "p11agent:carol%40bigcorp.example" "p11agent:label=carol" \
    "p11agent:id=$id" "p11agent:id=$pre" "p11agent:$pre" \
    "p11agent:pkcs11:token=$P11AGENT_TEST_TOKEN_LABEL;object=carol"; do
	# shellcheck disable=SC2086
	openssl storeutl $PROV -noout "$uri" >"$T/out" ||
	    fail "storeutl $uri"
	if ! grep -q "0: Pkey" "$T/out" ||
	    ! grep -q "1: Certificate" "$T/out" ||
	    ! grep -q "Total found: 2" "$T/out"; then
		cat "$T/out" >&2
		fail "storeutl $uri: wrong objects"
	fi
	pass "storeutl $uri"
done

# shellcheck disable=SC2086
openssl storeutl $PROV -noout p11agent: >"$T/all"
grep -q "Total found: 8" "$T/all" || fail "p11agent: does not list 4 keys"
# shellcheck disable=SC2086
openssl storeutl $PROV -noout -certs p11agent:alice@bigcorp.example >"$T/c"
grep -q "Total found: 1" "$T/c" || fail "-certs: count"
grep -q "0: Certificate" "$T/c" || fail "-certs: type"
# shellcheck disable=SC2086
openssl storeutl $PROV -noout -keys p11agent:alice@bigcorp.example >"$T/k"
grep -q "Total found: 1" "$T/k" || fail "-keys: count"
grep -q "0: Pkey" "$T/k" || fail "-keys: type"
pass "listing all keys and filters"

# The certificate is the token's.
# shellcheck disable=SC2086
openssl storeutl $PROV -certs p11agent:alice@bigcorp.example |
    openssl x509 -outform DER >"$T/c.der"
openssl x509 -in "$(cert alice)" -outform DER >"$T/want.der"
cmp -s "$T/c.der" "$T/want.der" || fail "store returns another certificate"
# A public key loaded by URI (expect PUBKEY) verifies a signature.
printf 'x\n' >"$T/m"
# shellcheck disable=SC2086
openssl dgst $PROV -sha256 -sign p11agent:dave@bigcorp.example \
    -out "$T/sig" "$T/m"
# shellcheck disable=SC2086
openssl dgst $PROV -sha256 -verify p11agent:dave@bigcorp.example \
    -signature "$T/sig" "$T/m" >/dev/null || fail "public key by URI"
# shellcheck disable=SC2086
openssl pkey $PROV -in p11agent:carol@bigcorp.example -pubout >"$T/pub"
cmp -s "$T/pub" "$(pubkey carol)" || fail "pkey -pubout"
pass "certificate and public key"

# shellcheck disable=SC2086
expect_fail 1 "p11agent: key not found: nobody" \
    openssl storeutl $PROV -noout p11agent:nobody
# shellcheck disable=SC2086
expect_fail 1 "p11agent: id= needs 8 to 64 hex digits" \
    openssl storeutl $PROV -noout p11agent:id=1234
# shellcheck disable=SC2086
expect_fail 1 "p11agent: bad escape" \
    openssl storeutl $PROV -noout "p11agent:alice%4"
# shellcheck disable=SC2086
expect_fail 1 "p11agent: bad escape" \
    openssl storeutl $PROV -noout "p11agent:label=alice%00x"
pass "errors"

# Private keys stay in the token: nothing to write out.
# shellcheck disable=SC2086
if openssl pkey $PROV -in p11agent:alice@bigcorp.example >"$T/priv" \
    2>/dev/null; then
	fail "openssl pkey wrote a private key"
fi
! grep -q "PRIVATE KEY" "$T/priv" || fail "private key material printed"
# shellcheck disable=SC2086
openssl storeutl $PROV p11agent:alice@bigcorp.example >"$T/st" 2>/dev/null ||
    true
! grep -q "PRIVATE KEY" "$T/st" || fail "storeutl printed a private key"
pass "no private key output"
