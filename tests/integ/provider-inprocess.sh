#!/bin/sh
# SPDX-License-Identifier: ISC
# The provider linked in-process (p11agent_provider_load(), no module on
# disk, a library context of its own), as p11 and client/smime use it:
# key and certificate from the store, key/certificate match, signing,
# RSA-OAEP decryption or ECDH, software key generation left to the
# default provider, and 8 threads signing at once over one connection.
. "$(dirname "$0")/provider-lib.sh"
use_shared_agent
unset OPENSSL_MODULES

for who in alice bob carol dave; do
	p11agent-provider-check -t 8 "$who@bigcorp.example" >"$T/out" 2>&1 ||
	    { cat "$T/out" >&2; fail "in-process check for $who"; }
	cat "$T/out"
	pass "in-process $who"
done
