#!/bin/sh
# SPDX-License-Identifier: ISC
# The audit log (docs/AUDIT.md): one well-formed JSON line per sign,
# decrypt, derive, denial, lock and unlock, with who, which key, what
# (digest, or SHA-256 of the wrapped key or peer point) and the result;
# `p11 audit verify` passes on it and fails, naming the right line, when
# a line is edited, removed or two are swapped; SIGHUP rotation and a
# restart keep one chain across files; --head catches a cut tail.
. "$(dirname "$0")/lib.sh"
need_fixture
PC="/usr/bin/python3 $P11AGENT_SRC/tests/integ/policy-client.py"
LOG=$T/audit.log

p11 client-key >/dev/null
ME=$(p11 client-key | cut -d' ' -f1)
printf '%s auditor keys=label:alice,label:carol\n' "$ME" >"$T/ac"
chmod 600 "$T/ac"
# shellcheck disable=SC2046
start_agent a $(token_opts) --authorized-clients "$T/ac" --audit-log "$LOG"

printf 'audited message\n' >"$T/m"
p11 sign --key carol --in "$T/m" --description "the claim" >/dev/null
p11 sign --key alice --alg rsa-pss-sha256 --in "$T/m" >/dev/null
openssl rand 32 >"$T/k"
openssl pkeyutl -encrypt -pubin -inkey "$(pubkey alice)" -in "$T/k" \
    -out "$T/w"
p11 decrypt --key alice --alg rsa-pkcs1 --in "$T/w" --out "$T/k2"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$T/peer.key" 2>/dev/null
openssl pkey -in "$T/peer.key" -pubout -out "$T/peer.pub"
p11 derive --key carol --peer "$T/peer.pub" --out "$T/z"
# A denial: bob is not in keys=.
BOB=$(/usr/bin/python3 -c 'import hashlib,subprocess,sys
der=subprocess.run(["openssl","pkey","-pubin","-in",sys.argv[1],"-outform","DER"],capture_output=True).stdout
print(hashlib.sha256(der).hexdigest())' "$(pubkey bob)")
$PC "$P11AGENT_SOCK" "$P11AGENT_SOCK.pub" "$XDG_CONFIG_HOME/p11agent/client.key" \
    sign "$BOB" >"$T/r"
grep -q '^fail 33 denied by authorized_clients line 1 (auditor)' "$T/r" ||
    fail "no denial: $(cat "$T/r")"
p11 lock
p11 unlock </dev/null
p11 sign --key carol --in "$T/m" >/dev/null

/usr/bin/python3 - "$LOG" "$T/m" "$T/w" "$T/peer.pub" "$ME" <<'EOF' ||
import hashlib, json, re, subprocess, sys
log, msg, wrapped, peer, me = sys.argv[1:6]
raw = open(log, "rb").read().split(b"\n")
assert raw[-1] == b"", "no newline at the end"
lines = [json.loads(l) for l in raw[:-1]]
prev = "0" * 64
for i, (l, r) in enumerate(zip(lines, raw)):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", l["time"]), l
    assert l["seq"] == i, (i, l)
    assert l["prev"] == prev, (i, l)
    assert list(l)[:3] == ["time", "seq", "op"] and list(l)[-1] == "prev", l
    prev = hashlib.sha256(r).hexdigest()
ops = [(l["op"], l["result"]) for l in lines]
assert ops == [("open", "ok"), ("sign", "ok"), ("sign", "ok"),
               ("decrypt", "ok"), ("derive", "ok"), ("sign", "denied"),
               ("lock", "ok"), ("unlock", "ok"), ("sign", "ok")], ops
digest = hashlib.sha256(open(msg, "rb").read()).hexdigest()
s1, s2, d, x, den = lines[1:6]
for l in (s1, s2, d, x, den, lines[6], lines[7]):
    assert l["client"] == "auditor" and l["client_key"] == me, l
    assert l["program"] == "p11" or l is den, l
    assert l["pid"] > 0 and l["uid"] >= 0 and l["exe"], l
for l in (s1, s2, d, x):
    assert len(l["key_id"]) == 64 and l["duration_us"] >= 0, l
assert s1["key_label"] == "carol" and s1["alg"] == "ecdsa-sha256", s1
assert s1["digest"] == digest and s1["description"] == "the claim", s1
assert s2["key_label"] == "alice" and s2["alg"] == "rsa-pss-sha256", s2
assert "description" not in s2, s2
assert d["alg"] == "rsa-pkcs1", d
assert d["ciphertext_sha256"] == hashlib.sha256(open(wrapped, "rb").read()).hexdigest(), d
der = subprocess.run(["openssl", "pkey", "-pubin", "-in", peer, "-outform",
                      "DER"], capture_output=True, check=True).stdout
assert x["alg"] == "ecdh" and x["peer_sha256"] == hashlib.sha256(der[-65:]).hexdigest(), x
assert den["message"].startswith("denied by authorized_clients line 1 (auditor): key "), den
assert den["key_label"] == "bob" and den["alg"] == "ecdsa-sha256", den
assert lines[6]["reason"] == "request", lines[6]
EOF
    fail "audit lines are not as documented"
pass "one well-formed line per operation, denial, lock and unlock"

p11 audit verify "$LOG" >"$T/v" || fail "verify failed on an intact log"
grep -q '^ok: 9 lines in 1 file' "$T/v" || fail "verify: $(cat "$T/v")"
pass "p11 audit verify accepts the log"

# Tampering: edit line 3, remove line 3, swap lines 3 and 4.
sed '3s/"key_label":"alice"/"key_label":"bob"/' "$LOG" >"$T/edited"
cmp -s "$LOG" "$T/edited" && fail "test: sed did not edit"
expect_fail 1 "edited:3: line edited" p11 audit verify "$T/edited"
sed '3d' "$LOG" >"$T/removed"
expect_fail 1 "removed:3: 1 line removed before this line" \
    p11 audit verify "$T/removed"
awk 'NR == 3 { h = $0; next } NR == 4 { print; print h; next } { print }' \
    "$LOG" >"$T/swapped"
expect_fail 1 "swapped:3: lines out of order" p11 audit verify "$T/swapped"
# An added line, and a line that is not ours.
sed '5p' "$LOG" >"$T/dup"
expect_fail 1 "dup:6: " p11 audit verify "$T/dup"
sed '2s/.*/{"hello":1}/' "$LOG" >"$T/junk"
expect_fail 1 "junk:2: not a p11agent audit line" p11 audit verify "$T/junk"
pass "edited, removed, swapped lines are found by number"

# Rotation: the new file's first line carries the old file's last hash.
mv "$LOG" "$LOG.1"
kill -HUP "$AGENT_PID"
i=0
until [ -s "$LOG" ]; do
	i=$((i + 1)); [ $i -lt 50 ] || fail "no new log after SIGHUP"
	sleep 0.1
done
p11 sign --key carol --in "$T/m" >/dev/null
tail -1 "$LOG.1" | grep -q '"op":"close","reason":"rotate"' ||
    fail "the old file does not end with a close line"
head -1 "$LOG" | grep -q '"op":"open","reason":"rotate"' ||
    fail "the new file does not start with an open line"
p11 audit verify "$LOG.1" "$LOG" >/dev/null || fail "chain across rotation"
expect_fail 1 "chain starts earlier" p11 audit verify "$LOG"
p11 audit verify --continued "$LOG" >/dev/null || fail "--continued"
expect_fail 1 "audit.log:1: " p11 audit verify "$LOG" "$LOG.1"
pass "SIGHUP rotation keeps the chain"

# A restart continues the chain in the same file; the head is logged.
stop_agent
head=$(sed -n 's/.*audit log .* closed: last line seq [0-9]* sha256 \([0-9a-f]*\).*/\1/p' \
    "$T/a/log" | tail -1)
[ ${#head} -eq 64 ] || fail "no head hash in the agent's log"
p11 audit verify --head "$head" "$LOG.1" "$LOG" >/dev/null ||
    fail "--head rejects the real head"
# shellcheck disable=SC2046
start_agent b $(token_opts) --authorized-clients "$T/ac" --audit-log "$LOG"
p11 sign --key carol --in "$T/m" >/dev/null
stop_agent
p11 audit verify "$LOG.1" "$LOG" >/dev/null || fail "chain across restart"
sed '$d' "$LOG" >"$T/cut"
p11 audit verify "$LOG.1" "$T/cut" >/dev/null ||
    fail "a cut tail alone is not detectable without --head"
head=$(sed -n 's/.*closed: last line seq [0-9]* sha256 \([0-9a-f]*\).*/\1/p' \
    "$T/b/log" | tail -1)
expect_fail 1 "last line is not the one expected" \
    p11 audit verify --head "$head" "$LOG.1" "$T/cut"
pass "restart continues the chain; --head catches a cut tail"
