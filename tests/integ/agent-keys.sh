#!/bin/sh
# SPDX-License-Identifier: ISC
# p11 keys shows the four fixture keys with their certificates and
# addresses, in text and JSON, and every KEYREF form finds the right key.
. "$(dirname "$0")/lib.sh"
use_shared_agent

p11 keys >"$T/keys"
cat "$T/keys"
[ "$(grep -c . "$T/keys")" -ge 4 ] || fail "fewer than four keys"
for who in alice bob carol dave; do
	grep -q "$who@bigcorp.example" "$T/keys" || fail "$who's address missing"
done
grep -q "pkcs11:" "$T/keys" || fail "no pkcs11: URI"

p11 keys --json >"$T/keys.json"
python3 - "$T/keys.json" <<'PY'
import json, sys
keys = json.load(open(sys.argv[1]))
assert isinstance(keys, list) and len(keys) == 4, keys
by = {k["label"]: k for k in keys}
want = {"alice": ("rsa", 2048, None), "bob": ("rsa", 3072, None),
        "carol": ("ec", 256, "P-256"), "dave": ("ec", 384, "P-384")}
for label, (typ, bits, curve) in want.items():
    k = by[label]
    for m in ("id", "label", "token", "type", "bits", "operations",
              "subject", "emails", "uri"):
        assert m in k, (label, m)
    assert k["type"] == typ and k["bits"] == bits, k
    if curve:
        assert k["curve"] == curve, k
        assert set(k["operations"]) == {"sign", "derive"}, k
    else:
        assert set(k["operations"]) == {"sign", "decrypt"}, k
    assert k["emails"] == [label + "@bigcorp.example"], k
    assert k["uri"].startswith("pkcs11:"), k
    assert len(k["id"]) == 64 and int(k["id"], 16) >= 0, k
    assert k["token"] == "p11agent-demo", k
print("json ok")
PY

# KEYREF forms: full id, 8-digit prefix, e-mail, label, pkcs11: URI all
# name the same key (the signature verifies with alice's certificate).
id=$(python3 -c 'import json,sys; print([k["id"] for k in json.load(open(sys.argv[1])) if k["label"]=="alice"][0])' "$T/keys.json")
uri=$(python3 -c 'import json,sys; print([k["uri"] for k in json.load(open(sys.argv[1])) if k["label"]=="alice"][0])' "$T/keys.json")
pub=$(pubkey alice)
printf 'x' >"$T/m"
for ref in "$id" "$(echo "$id" | cut -c1-8)" alice@bigcorp.example \
    ALICE@BigCorp.Example alice "$uri"; do
	p11 sign --key "$ref" --alg rsa-pkcs1-sha256 --in "$T/m" --out "$T/s"
	openssl dgst -sha256 -verify "$pub" -signature "$T/s" "$T/m" >/dev/null ||
	    fail "KEYREF $ref signed with the wrong key"
done
pass "KEYREF forms"
expect_fail 1 "zed@bigcorp.example" p11 sign --key zed@bigcorp.example \
    --alg rsa-pkcs1-sha256 --in "$T/m"
# Three hex digits are too short to be an id prefix and match no label.
expect_fail 1 "." p11 sign --key abc --alg rsa-pkcs1-sha256 --in "$T/m"
