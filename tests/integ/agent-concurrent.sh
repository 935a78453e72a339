#!/bin/sh
# SPDX-License-Identifier: ISC
# Eight clients sign at once with all four keys; every signature
# verifies, none fails. Pipelined requests on one connection all come
# back (noiseclient pipeline).
. "$(dirname "$0")/lib.sh"
use_shared_agent

for who in alice bob carol dave; do pubkey $who >/dev/null; done
worker() {
	n=$1
	i=0
	while [ $i -lt 10 ]; do
		for who in alice carol bob dave; do
			printf 'client %s message %s %s\n' "$n" "$i" "$who" >"$T/m.$n"
			case $who in alice|bob) alg=rsa-pkcs1-sha256 ;; *) alg=ecdsa-sha256 ;; esac
			p11 sign --key $who --alg $alg --in "$T/m.$n" --out "$T/s.$n" ||
			    { echo "client $n: sign failed" >"$T/err.$n"; return 1; }
			openssl dgst -sha256 -verify "$T/$who.pub.pem" \
			    -signature "$T/s.$n" "$T/m.$n" >/dev/null ||
			    { echo "client $n: bad signature" >"$T/err.$n"; return 1; }
		done
		i=$((i + 1))
	done
	touch "$T/done.$n"
}
pids=""
for n in 1 2 3 4 5 6 7 8; do worker $n & pids="$pids $!"; done
for p in $pids; do wait "$p" || true; done
cat "$T"/err.* 2>/dev/null && fail "a concurrent client failed"
[ "$(ls "$T"/done.* | wc -l)" -eq 8 ] || fail "not every client finished"
pass "8 concurrent clients x 40 signatures"
/usr/bin/python3 "$P11AGENT_SRC/tests/integ/noiseclient.py" \
    "$P11AGENT_SOCK" "$P11AGENT_SOCK.pub" pipeline 120 || fail "pipelining"
