#!/bin/sh
# SPDX-License-Identifier: ISC
# Keys with CKA_ALWAYS_AUTHENTICATE: each use gets its context-specific
# login (C_Login CKU_CONTEXT_SPECIFIC right after C_SignInit or
# C_DecryptInit, on the operation's session) with the cached PIN, so they
# sign and decrypt like any other key; ECDH, which has no such login in
# libp11 0.4.12, is not offered for them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/token-lib.sh"
need_fixture
command -v pkcs11-tool >/dev/null 2>&1 || skip "pkcs11-tool not installed"
private_token
PIN=$(cat "$P11AGENT_TEST_PINFILE")
gen() {
	pkcs11-tool --module "$P11AGENT_TEST_MODULE" \
	    --token-label "$P11AGENT_TEST_TOKEN_LABEL" --login --pin "$PIN" \
	    --keypairgen --key-type "$1" --id "$2" --label "$3" --always-auth \
	    >"$T/gen-$3.log" 2>&1 || { cat "$T/gen-$3.log" >&2; fail "gen $3"; }
	pkcs11-tool --module "$P11AGENT_TEST_MODULE" \
	    --token-label "$P11AGENT_TEST_TOKEN_LABEL" --read-object \
	    --type pubkey --id "$2" -o "$T/$3.der" >/dev/null 2>&1
	openssl pkey -pubin -inform DER -in "$T/$3.der" -out "$T/$3.pub.pem"
}
gen rsa:2048 0a grace
gen EC:prime256v1 0b frank

start_agent aa --module "$P11AGENT_TEST_MODULE" \
    --pin-file "$P11AGENT_TEST_PINFILE"
p11 keys >"$T/keys"
grep 'label="grace"' "$T/keys" | grep -q "sign,decrypt" ||
    fail "grace not offered for sign and decrypt: $(cat "$T/keys")"
grep 'label="frank"' "$T/keys" | grep -q " sign " ||
    fail "frank not offered for signing: $(cat "$T/keys")"
! grep 'label="frank"' "$T/keys" | grep -q derive || fail "frank derives"

printf 'always authenticate' >"$T/msg"
for i in 1 2 3; do
	p11 sign --key grace --alg rsa-pkcs1-sha256 --in "$T/msg" \
	    --out "$T/g$i.sig"
	verify_sig grace "$T/msg" "$T/g$i.sig" || fail "grace signature $i"
	p11 sign --key frank --alg ecdsa-sha256 --in "$T/msg" \
	    --out "$T/f$i.sig"
	verify_sig frank "$T/msg" "$T/f$i.sig" || fail "frank signature $i"
done
p11 sign --key grace --alg rsa-pss-sha256 --in "$T/msg" >/dev/null
openssl rand 32 >"$T/k"
openssl pkeyutl -encrypt -pubin -inkey "$T/grace.pub.pem" -in "$T/k" \
    -out "$T/w"
p11 decrypt --key grace --alg rsa-pkcs1 --in "$T/w" --out "$T/k2"
cmp -s "$T/k" "$T/k2" || fail "grace decrypt"
openssl ec -pubin -in "$T/frank.pub.pem" -pubout -out "$T/peer.pem" 2>/dev/null
expect_fail 1 "cannot derive" p11 derive --key frank --peer "$T/peer.pem"
# After a lock and an unlock the new PIN is what the keys log in with.
p11 lock
expect_fail 1 "locked" p11 sign --key grace --alg rsa-pkcs1-sha256 \
    --in "$T/msg"
p11 unlock --pin-fd 3 3<"$P11AGENT_TEST_PINFILE"
p11 sign --key grace --alg rsa-pkcs1-sha256 --in "$T/msg" --out "$T/g4.sig"
verify_sig grace "$T/msg" "$T/g4.sig" || fail "grace after unlock"
stop_agent

# The module's own view (pkcs11-spy, when installed): a context-specific
# login follows each C_SignInit on the key.
SPY=""
for d in /usr/lib/x86_64-linux-gnu/pkcs11 /usr/lib/pkcs11 /usr/lib64/pkcs11; do
	[ -f "$d/pkcs11-spy.so" ] && SPY=$d/pkcs11-spy.so && break
done
if [ -n "$SPY" ]; then
	PKCS11SPY=$P11AGENT_TEST_MODULE PKCS11SPY_OUTPUT=$T/spy.log
	export PKCS11SPY PKCS11SPY_OUTPUT
	start_agent spy --module "$SPY" --pin-file "$P11AGENT_TEST_PINFILE"
	p11 sign --key grace --alg rsa-pkcs1-sha256 --in "$T/msg" >/dev/null
	stop_agent
	grep -a -A12 'C_SignInit' "$T/spy.log" |
	    grep -a -q 'userType = CKU_CONTEXT_SPECIFIC' ||
	    fail "no context-specific login seen by pkcs11-spy"
	rm -f "$T/spy.log"		# it holds the PIN
	unset PKCS11SPY PKCS11SPY_OUTPUT
fi
pass "always-authenticate keys"
