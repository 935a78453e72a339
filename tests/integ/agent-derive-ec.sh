#!/bin/sh
# SPDX-License-Identifier: ISC
# ECDH on the token equals OpenSSL's derive from the other side; a peer
# key on another curve is refused with a clear error.
. "$(dirname "$0")/lib.sh"
use_shared_agent

for pair in carol:P-256 dave:P-384; do
	who=${pair%%:*}; curve=${pair#*:}
	pub=$(pubkey $who)
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:$curve \
	    -out "$T/peer.key" 2>/dev/null
	openssl pkey -in "$T/peer.key" -pubout -out "$T/peer.pub"
	openssl pkeyutl -derive -inkey "$T/peer.key" -peerkey "$pub" -out "$T/want"
	p11 derive --key $who --peer "$T/peer.pub" --out "$T/got"
	cmp -s "$T/want" "$T/got" || fail "$who ECDH differs from OpenSSL"
	pass "$who ECDH $curve"
done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
    -out "$T/p384.key" 2>/dev/null
openssl pkey -in "$T/p384.key" -pubout -out "$T/p384.pub"
expect_fail 1 "P-384.*P-256|curve" p11 derive --key carol --peer "$T/p384.pub"
# RSA keys cannot derive.
expect_fail 1 "." p11 derive --key alice --peer "$T/p384.pub"
