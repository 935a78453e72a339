#!/bin/sh
# SPDX-License-Identifier: ISC
# Confirmation: a client with the "confirm" rule, and any client using a
# key named by --confirm, is asked about through pinentry (here a fake
# one that logs what it is shown and answers as told). The prompt names
# the client, process, key and operation, and shows the client's
# description marked as its unverified claim; a pipelined batch is one
# prompt for "N operations"; "cancel" is FAILURE 33 "denied by user";
# without a pinentry to run, the use is denied with a clear message.
. "$(dirname "$0")/lib.sh"
need_fixture
PC="/usr/bin/python3 $P11AGENT_SRC/tests/integ/policy-client.py"

cl() { n=$1; shift; XDG_CONFIG_HOME=$T/c-$n "$@"; }
keyof() { cl "$1" p11 client-key | cut -d' ' -f1; }

# An Assuan peer: "OK" to everything; CONFIRM answered from $T/answer.
cat >"$T/fake-pinentry" <<'EOF'
#!/bin/sh
echo "OK Pleased to meet you"
while IFS= read -r line; do
	printf '%s\n' "$line" >>"$FAKE_PINENTRY_LOG"
	case $line in
	CONFIRM*)
		if [ "$(cat "$FAKE_PINENTRY_ANSWER")" = ok ]; then
			echo OK
		else
			echo "ERR 83886179 Operation cancelled <Pinentry>"
		fi ;;
	BYE*) echo OK; exit 0 ;;
	*) echo OK ;;
	esac
done
EOF
chmod 755 "$T/fake-pinentry"
FAKE_PINENTRY_LOG=$T/shown FAKE_PINENTRY_ANSWER=$T/answer
export FAKE_PINENTRY_LOG FAKE_PINENTRY_ANSWER
: >"$T/shown"
echo ok >"$T/answer"
prompts() { grep -c '^CONFIRM' "$T/shown" || true; }

printf '%s asker confirm\n%s quiet\n' "$(keyof asker)" "$(keyof quiet)" \
    >"$T/ac"
chmod 600 "$T/ac"
# shellcheck disable=SC2046
start_agent c $(token_opts) --authorized-clients "$T/ac" \
    --pinentry "$T/fake-pinentry" --confirm label:dave \
    --audit-log "$T/audit.log"

printf 'message\n' >"$T/m"
cl asker p11 sign --key carol --in "$T/m" \
    --description "mail to bob@bigcorp.example, Subject: Q3 plan" >/dev/null
[ "$(prompts)" -eq 1 ] || fail "no prompt for a confirm client"
# What the person saw (Assuan escapes newlines as %0A).
desc=$(grep '^SETDESC ' "$T/shown" | tail -1 | sed 's/%0A/\n/g')
for want in "Allow this operation: sign \(ecdsa-sha256\)\?" \
    "Key: carol <carol@bigcorp.example>, id " \
    "Client: asker \(authorized_clients line 1\)" \
    "Process: pid [0-9]+, uid $(id -u), .*/p11" \
    'It calls itself \(unverified\): "p11"' \
    'The client says this is \(unverified\): "mail to bob@bigcorp.example, Subject: Q3 plan"'; do
	printf '%s\n' "$desc" | grep -Eq "$want" ||
	    fail "prompt lacks /$want/: $desc"
done
pass "prompt shows client, process, key, operation and the claim"

echo cancel >"$T/answer"
expect_fail 1 "denied by user" cl asker p11 sign --key carol --in "$T/m"
[ "$(prompts)" -eq 2 ] || fail "cancel: no prompt"
pass "cancel denies"

# No rule, no prompt; --confirm label:dave asks anyone about dave.
echo ok >"$T/answer"
cl quiet p11 sign --key carol --in "$T/m" >/dev/null
[ "$(prompts)" -eq 2 ] || fail "a client without confirm was asked"
cl quiet p11 sign --key dave --in "$T/m" >/dev/null
[ "$(prompts)" -eq 3 ] || fail "--confirm label:dave did not ask"
grep '^SETDESC ' "$T/shown" | tail -1 | grep -q 'Client: quiet' ||
    fail "dave prompt does not name the client"
echo cancel >"$T/answer"
expect_fail 1 "denied by user" cl quiet p11 sign --key dave --in "$T/m"
pass "--confirm KEYREF asks for that key only"

# A pipelined batch of five: one prompt for all of them.
echo ok >"$T/answer"
before=$(prompts)
CAROL=$(cl quiet p11 keys --json | /usr/bin/python3 -c 'import json,sys
print([k["id"] for k in json.load(sys.stdin) if k["label"] == "carol"][0])')
$PC "$P11AGENT_SOCK" "$P11AGENT_SOCK.pub" "$T/c-asker/p11agent/client.key" \
    sign "$CAROL" 5 "batch of five" >"$T/r"
[ "$(grep -c '^ok$' "$T/r")" -eq 5 ] || fail "batch: $(cat "$T/r")"
[ "$(prompts)" -eq $((before + 1)) ] ||
    fail "batch of 5 took $(($(prompts) - before)) prompts"
grep '^SETDESC ' "$T/shown" | tail -1 | grep -q 'Allow 5 operations: sign' ||
    fail "batch prompt does not say 5 operations"
pass "one prompt for a pipelined batch of 5"

# The audit log records who confirmed what.
/usr/bin/python3 - "$T/audit.log" <<'EOF' || fail "audit lines of confirmations"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
signs = [l for l in lines if l["op"] == "sign"]
ok = [l for l in signs if l["result"] == "ok" and l.get("confirmed")]
denied = [l for l in signs if l["result"] == "denied"]
assert any(l.get("description") == "mail to bob@bigcorp.example, "
           "Subject: Q3 plan" for l in ok), "description not logged"
assert len(denied) == 2, denied
assert all(l["message"] == "denied by user" for l in denied), denied
assert not any(l.get("confirmed") for l in signs
               if l["client"] == "quiet" and l["key_label"] == "carol")
EOF
stop_agent

# Without a pinentry to run, confirmation cannot happen: denied.
# shellcheck disable=SC2046
start_agent n $(token_opts) --pinentry "$T/no-such-pinentry" \
    --confirm label:carol
expect_fail 1 "denied: this use needs confirmation but no pinentry could run" \
    p11 sign --key carol --in "$T/m"
p11 sign --key dave --in "$T/m" >/dev/null || fail "dave needs no confirmation"
pass "no pinentry: denied with a clear message"
