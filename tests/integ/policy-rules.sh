#!/bin/sh
# SPDX-License-Identifier: ISC
# authorized_clients rules (docs/AUTHORIZED_CLIENTS.md): keys= limits
# what a client lists and uses (e-mail, domain, label, id: patterns),
# ops= the operations, rate= a token bucket; each denial is FAILURE 33
# naming the file's line and the client; a typo stops the agent at
# start-up with its line number; SIGHUP applies a new file at once.
. "$(dirname "$0")/lib.sh"
need_fixture
PC="/usr/bin/python3 $P11AGENT_SRC/tests/integ/policy-client.py"

# cl NAME cmd...: run cmd as client NAME (its own client key).
cl() { n=$1; shift; XDG_CONFIG_HOME=$T/c-$n "$@"; }
keyof() { cl "$1" p11 client-key | cut -d' ' -f1; }
idof() { p11 keys --json | /usr/bin/python3 -c 'import json,sys
print([k["id"] for k in json.load(sys.stdin) if k["label"] == sys.argv[1]][0])' "$1"; }
nkeys() { cl "$1" p11 keys | wc -l; }

# The key ids, from an agent without rules.
# shellcheck disable=SC2046
start_agent plain $(token_opts)
ALICE=$(idof alice); BOB=$(idof bob); CAROL=$(idof carol); DAVE=$(idof dave)
stop_agent

cat >"$T/ac" <<EOF
# signer: carol by address, dave by label; signing only
$(keyof signer) signer keys=carol@bigcorp.example,label:dave ops=sign
$(keyof unwrapper) "mail gateway" keys=* ops=decrypt,derive rate=3/h
$(keyof byid) byid keys=id:$(echo "$CAROL" | cut -c1-12)
$(keyof domain) domain keys=*@bigcorp.example ops=sign
$(keyof nobody) nobody keys=*@elsewhere.example
EOF
chmod 600 "$T/ac"
# shellcheck disable=SC2046
start_agent rules $(token_opts) --authorized-clients "$T/ac"

# keys=: the list shows only the keys a client may use.
[ "$(nkeys signer)" -eq 2 ] || fail "signer lists $(nkeys signer) keys, not 2"
cl signer p11 keys | grep -q 'label="carol"' || fail "signer does not list carol"
cl signer p11 keys | grep -q 'label="dave"' || fail "signer does not list dave"
[ "$(nkeys unwrapper)" -eq 4 ] || fail "keys=* does not list every key"
[ "$(cl byid p11 keys | grep -c 'label="carol"')" -eq 1 ] &&
    [ "$(nkeys byid)" -eq 1 ] || fail "id: pattern does not list carol alone"
[ "$(nkeys domain)" -eq 4 ] || fail "*@bigcorp.example does not list all"
[ "$(nkeys nobody)" -eq 0 ] || fail "*@elsewhere.example lists keys"
pass "keys= decides what LIST_KEYS shows"

printf 'message\n' >"$T/m"
cl signer p11 sign --key carol --in "$T/m" >/dev/null
cl signer p11 sign --key dave --in "$T/m" >/dev/null
pass "allowed keys sign"

# A key outside keys=, asked for by id: denied, naming line and rule.
cl signer $PC "$P11AGENT_SOCK" "$P11AGENT_SOCK.pub" \
    "$T/c-signer/p11agent/client.key" sign "$ALICE" >"$T/r"
grep -q "^fail 33 denied by authorized_clients line 2 (signer): key $(echo "$ALICE" | cut -c1-8) is not in keys=carol@bigcorp.example,label:dave$" "$T/r" ||
    fail "key denial: $(cat "$T/r")"
cl nobody $PC "$P11AGENT_SOCK" "$P11AGENT_SOCK.pub" \
    "$T/c-nobody/p11agent/client.key" sign "$CAROL" >"$T/r"
grep -q "^fail 33 denied by authorized_clients line 6 (nobody): key" "$T/r" ||
    fail "domain denial: $(cat "$T/r")"
pass "keys= denies other keys by name"

# ops=: derive with an allowed key is refused for a sign-only client.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$T/peer.key" 2>/dev/null
openssl pkey -in "$T/peer.key" -pubout -out "$T/peer.pub"
expect_fail 1 "denied by authorized_clients line 2 \(signer\): operation derive not allowed \(ops=sign\)" \
    cl signer p11 derive --key carol --peer "$T/peer.pub"
expect_fail 1 "denied by authorized_clients line 3 \(mail gateway\): operation sign not allowed \(ops=decrypt,derive\)" \
    cl unwrapper p11 sign --key carol --in "$T/m"
cl unwrapper p11 derive --key carol --peer "$T/peer.pub" --out "$T/s1"
pass "ops= allows and denies as written"

# rate=3/h: the derive above took one; of five more, two pass.
ok=0; denied=0
for i in 1 2 3 4 5; do
	if cl unwrapper p11 derive --key carol --peer "$T/peer.pub" \
	    --out "$T/s.$i" 2>"$T/e.$i"; then
		ok=$((ok + 1))
	else
		grep -q "denied by authorized_clients line 3 (mail gateway): rate limit 3/h exceeded" "$T/e.$i" ||
		    fail "rate denial: $(cat "$T/e.$i")"
		denied=$((denied + 1))
	fi
done
[ $ok -eq 2 ] && [ $denied -eq 3 ] || fail "rate=3/h: $ok allowed, $denied denied"
pass "rate=3/h: 3 allowed, then denials"

# A key that is not listed cannot even connect.
expect_fail 1 "not accept|not authorized" cl stranger p11 status

# SIGHUP: a new file takes effect for the next request.
sed -i 's/^\(.* signer\) keys=[^ ]* ops=sign$/\1 ops=sign/' "$T/ac"
grep -q ' signer ops=sign$' "$T/ac" || fail "test: sed did not edit the file"
kill -HUP "$AGENT_PID"
i=0
until [ "$(nkeys signer)" -eq 4 ]; do
	i=$((i + 1)); [ $i -lt 50 ] || fail "reload did not widen keys="
	sleep 0.1
done
# An unchanged rate= keeps its bucket: a SIGHUP does not refill it.
expect_fail 1 "rate limit 3/h exceeded" \
    cl unwrapper p11 derive --key carol --peer "$T/peer.pub" --out "$T/s.x"
sed -i '/ signer ops=sign$/d' "$T/ac"
kill -HUP "$AGENT_PID"
i=0
while cl signer p11 status >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 50 ] || fail "reload did not remove signer"
	sleep 0.1
done
pass "SIGHUP reloads the rules, keeps rate buckets"
stop_agent

# Mistakes stop the agent at start-up, naming the line.
bad() {
	printf '# x\n%s\n' "$1" >"$T/bad"
	chmod 600 "$T/bad"
	# shellcheck disable=SC2046
	expect_fail 1 "bad:2: $2" p11agent --foreground --socket "$T/b.sock" \
	    --agent-key "$T/b.key" $(token_opts) --authorized-clients "$T/bad"
}
K=$(keyof signer)
bad "$K x kes=*" "unknown rule"
bad "$K x ops=sign,steal" "ops= takes sign, decrypt and derive"
bad "$K x rate=10/day" "rate= takes N/s, N/min or N/h"
bad "$K x keys=carol" "a key pattern is"
bad "$K x keys=id:12" "an id: pattern needs 8 to 64 hex digits"
bad "$K x ops=sign ops=decrypt" "a rule is given twice"
bad "$K x confirm=maybe" "confirm takes no value, or confirm=yes\|no"
bad "$K ops=sign" "expected a name after the key"
bad "$K \"two words keys=*" "unterminated"
printf '%s a\n%s b\n' "$K" "$K" >"$T/bad"
# shellcheck disable=SC2046
expect_fail 1 "bad:2: key listed twice \(also on line 1\)" p11agent \
    --foreground --socket "$T/b.sock" --agent-key "$T/b.key" $(token_opts) \
    --authorized-clients "$T/bad"
pass "parse errors name the line"
