#!/bin/sh
# SPDX-License-Identifier: ISC
# p11 smime reaches the agent over one connection per run: the key list
# and the signature (made by the in-process provider) share it, so
# --socket alone is enough and a run connects exactly once; decrypt
# finds its key on that connection too; no agent is a one-line error.
. "$(dirname "$0")/lib.sh"
use_shared_agent
ROOT=$CERTS/root.pem
sock=$P11AGENT_SOCK

printf 'From: Carol Example <carol@bigcorp.example>\nTo: Bob Example <bob@bigcorp.example>\nSubject: one connection\n\nhello\n' >"$T/m.txt"

# The provider signs over the CLI's connection: with $P11AGENT_SOCK
# pointing nowhere, --socket must still be enough.
P11AGENT_SOCK=$T/nowhere p11 smime sign --socket "$sock" --in "$T/m.txt" \
    --out "$T/s.eml"
p11 smime verify --CAfile "$ROOT" --certs "$CERTS" --in "$T/s.eml" \
    2>"$T/v.err" || { cat "$T/v.err" >&2; fail "verify"; }
pass "sign with --socket only"

if command -v strace >/dev/null 2>&1; then
	strace -f -e trace=connect -o "$T/trace" p11 smime sign \
	    --in "$T/m.txt" --out "$T/s2.eml" 2>"$T/st.err" ||
	    { cat "$T/st.err" >&2; fail "sign under strace"; }
	n=$(grep -c "connect(.*$sock" "$T/trace" || true)
	[ "$n" -eq 1 ] || { cat "$T/trace" >&2; fail "sign connected $n times"; }
	pass "sign connects once"
else
	echo "# strace missing: connection count not checked"
fi

p11 smime encrypt --certs "$CERTS" --in "$T/m.txt" --out "$T/e.eml" \
    2>/dev/null
P11AGENT_SOCK=$T/nowhere p11 smime decrypt --socket "$sock" \
    --certs "$CERTS" --in "$T/e.eml" --out "$T/d.txt" 2>"$T/d.err" ||
    { cat "$T/d.err" >&2; fail "decrypt with --socket only"; }
grep -q hello "$T/d.txt" || fail "decrypted text"
pass "decrypt with --socket only"

P11AGENT_SOCK=$T/nowhere expect_fail 2 "agent not reachable at $T/nowhere" \
    p11 smime sign --in "$T/m.txt"
[ "$(wc -l <"$T/ef.err")" -eq 1 ] || { cat "$T/ef.err" >&2; fail "one line"; }
expect_fail 2 'key "nobody@bigcorp.example": key not found' \
    p11 smime sign --key nobody@bigcorp.example --in "$T/m.txt"
pass "no agent, no key: one line, exit 2"
