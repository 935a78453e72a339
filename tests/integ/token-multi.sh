#!/bin/sh
# SPDX-License-Identifier: ISC
# Two tokens at once (mktoken-multi.sh: alice, bob, carol, dave on the
# first, erin on the second), plus a different key on the second token
# with the same label and CKA_ID as alice on the first: every key is
# listed with its own token, signing works on both, the two "alice" keys
# are told apart by their key ids (the hash of the public key) and never
# confused, and --token selects one token.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/token-lib.sh"
need_fixture
command -v pkcs11-tool >/dev/null 2>&1 || skip "pkcs11-tool not installed"
set +e
bash "$P11AGENT_SRC/softhsm-fixtures/mktoken-multi.sh" "$T/multi" \
    >"$T/mk.log" 2>&1
r=$?
set -e
[ $r -ne 77 ] || skip "softhsm fixtures: $(tail -1 "$T/mk.log")"
[ $r -eq 0 ] || { cat "$T/mk.log" >&2; fail "mktoken-multi.sh"; }
# shellcheck disable=SC1091
. "$T/multi/env"
CERTS=$P11AGENT_TEST_CERTS
L2=$P11AGENT_TEST_TOKEN2_LABEL
pkcs11-tool --module "$P11AGENT_TEST_MODULE" --token-label "$L2" --login \
    --pin "$(cat "$P11AGENT_TEST_PINFILE")" --keypairgen \
    --key-type rsa:2048 --id 01 --label alice >"$T/gen.log" 2>&1 ||
    { cat "$T/gen.log" >&2; fail "second alice"; }
pkcs11-tool --module "$P11AGENT_TEST_MODULE" --token-label "$L2" \
    --read-object --type pubkey --id 01 -o "$T/alice2.der" >/dev/null 2>&1
openssl pkey -pubin -inform DER -in "$T/alice2.der" -out "$T/alice2.pub.pem"
id2=$(openssl pkey -pubin -in "$T/alice2.pub.pem" -outform DER |
    openssl dgst -sha256 -r | cut -c1-64)

start_agent m --module "$P11AGENT_TEST_MODULE" \
    --pin-file "$P11AGENT_TEST_PINFILE"
p11 status >"$T/status"
grep -q "\"$P11AGENT_TEST_TOKEN_LABEL\"" "$T/status" &&
    grep -q "\"$L2\"" "$T/status" || fail "status lacks a token"
p11 keys --json >"$T/keys.json"
python3 - "$T/keys.json" "$P11AGENT_TEST_TOKEN_LABEL" "$L2" "$id2" <<'PY'
import json, sys
keys = json.load(open(sys.argv[1]))
t1, t2, id2 = sys.argv[2], sys.argv[3], sys.argv[4]
where = sorted((k["label"], k["token"]) for k in keys)
want = sorted([("alice", t1), ("bob", t1), ("carol", t1), ("dave", t1),
               ("erin", t2), ("alice", t2)])
assert where == want, where
alices = [k for k in keys if k["label"] == "alice"]
assert len({k["id"] for k in alices}) == 2, "two alices, one id"
a2 = [k for k in alices if k["token"] == t2][0]
assert a2["id"] == id2, "token 2 alice's id is not its public key's hash"
assert "type=private" in a2["uri"] and "token=" + t2 in a2["uri"]
PY
pass "six keys, each with its token"

a1=$(python3 -c 'import json,sys; print([k["id"] for k in json.load(open(sys.argv[1])) if k["label"] == "alice" and k["token"] == sys.argv[2]][0])' "$T/keys.json" "$P11AGENT_TEST_TOKEN_LABEL")
printf 'two tokens' >"$T/msg"
# Both tokens sign.
p11 sign --key erin --alg rsa-pkcs1-sha256 --in "$T/msg" --out "$T/erin.sig"
verify_sig erin "$T/msg" "$T/erin.sig" || fail "erin (token 2)"
p11 sign --key carol --alg ecdsa-sha256 --in "$T/msg" --out "$T/carol.sig"
verify_sig carol "$T/msg" "$T/carol.sig" || fail "carol (token 1)"
p11 sign --key dave@bigcorp.example --alg ecdsa-sha384 --in "$T/msg" \
    >/dev/null || fail "dave by e-mail"
# Same label and CKA_ID on two tokens: a label is ambiguous, ids are not.
expect_fail 1 "matches 2 keys|ambiguous" \
    p11 sign --key alice --alg rsa-pkcs1-sha256 --in "$T/msg"
p11 sign --key "$id2" --alg rsa-pkcs1-sha256 --in "$T/msg" --out "$T/a2.sig"
openssl dgst -sha256 -verify "$T/alice2.pub.pem" -signature "$T/a2.sig" \
    "$T/msg" >/dev/null || fail "token 2 alice by id"
! verify_sig alice "$T/msg" "$T/a2.sig" || fail "token 2 signed as alice 1"
p11 sign --key "$a1" --alg rsa-pkcs1-sha256 --in "$T/msg" --out "$T/a1.sig"
verify_sig alice "$T/msg" "$T/a1.sig" || fail "token 1 alice by id"
! openssl dgst -sha256 -verify "$T/alice2.pub.pem" -signature "$T/a1.sig" \
    "$T/msg" >/dev/null 2>&1 || fail "token 1 signed as alice 2"
# A URI with the token picks one alice too.
p11 sign --key "pkcs11:token=$L2;object=alice" --alg rsa-pkcs1-sha256 \
    --in "$T/msg" --out "$T/a2u.sig"
openssl dgst -sha256 -verify "$T/alice2.pub.pem" -signature "$T/a2u.sig" \
    "$T/msg" >/dev/null || fail "token 2 alice by URI"
stop_agent
pass "both tokens sign, same labels told apart"

# --token selects one token.
start_agent one --module "$P11AGENT_TEST_MODULE" --token "pkcs11:token=$L2" \
    --pin-file "$P11AGENT_TEST_PINFILE"
[ "$(p11 keys | wc -l)" -eq 2 ] || fail "--token: wanted 2 keys"
p11 keys | grep -q erin || fail "--token: no erin"
expect_fail 1 "no key matches" \
    p11 sign --key carol --alg ecdsa-sha256 --in "$T/msg"
p11 sign --key erin --alg rsa-pkcs1-sha256 --in "$T/msg" --out "$T/e2.sig"
verify_sig erin "$T/msg" "$T/e2.sig" || fail "--token erin"
stop_agent
pass "several tokens"
