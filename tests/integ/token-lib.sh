# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# token-lib.sh - sourced (after lib.sh) by the token-*.sh and pin-*.sh
# tests: a private copy of the fixture token, the scripted pinentry, and
# small counters.

# private_token: SOFTHSM2_CONF now names a copy of the fixture token in
# $T/tok (same serial, label, keys and PIN), so that wrong PINs, a server
# in front of it or heavy load disturb no other test.
private_token() {
	mkdir -p "$T/tok/tokens"
	cp -R "$P11AGENT_TEST_DIR/tokens/." "$T/tok/tokens/"
	sed "s|^directories.tokendir = .*|directories.tokendir = $T/tok/tokens|" \
	    "$P11AGENT_TEST_DIR/softhsm2.conf" >"$T/tok/softhsm2.conf"
	SOFTHSM2_CONF=$T/tok/softhsm2.conf
	export SOFTHSM2_CONF
}

# fake_pinentry: the scripted pinentry as $PINENTRY, answering with the
# fixture PIN; its state and records are in $FAKE_PINENTRY_DIR.
fake_pinentry() {
	FAKE_PINENTRY_DIR=$T/pe
	export FAKE_PINENTRY_DIR
	mkdir -p "$FAKE_PINENTRY_DIR"
	cp "$P11AGENT_SRC/tests/integ/fake-pinentry.sh" "$T/pe/pinentry"
	chmod 700 "$T/pe/pinentry"
	PINENTRY=$T/pe/pinentry
	cat "$P11AGENT_TEST_PINFILE" >"$T/pe/pin"
	echo ok >"$T/pe/mode"
}

# lines FILE: its number of lines, 0 when it does not exist.
lines() {
	if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# now_ms: wall clock in milliseconds.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# verify_sig KEYNAME FILE SIG: an ECDSA or RSA PKCS#1 signature with
# SHA-256 by the certificate's key.
verify_sig() {
	[ -f "$T/$1.pub.pem" ] || pubkey "$1" >/dev/null
	openssl dgst -sha256 -verify "$T/$1.pub.pem" -signature "$3" "$2" \
	    >/dev/null 2>&1
}
