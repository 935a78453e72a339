#!/bin/sh
# SPDX-License-Identifier: ISC
# A client running as another uid is refused by the SO_PEERCRED check
# before any handshake, even when the socket's file mode would let it in,
# and a flood of such clients gets one log line per 10 s.
. "$(dirname "$0")/lib.sh"
need_fixture
[ "$(id -u)" -eq 0 ] || skip "needs root to run a client as nobody"
command -v setpriv >/dev/null || skip "setpriv missing"

# shellcheck disable=SC2046
start_agent u $(token_opts)
# Open the way on purpose so only the uid check can stop the client.
chmod 755 "$T" "$T/u"
chmod 666 "$P11AGENT_SOCK"
chmod 644 "$P11AGENT_SOCK.pub"
mkdir -p "$T/nobody"
chown nobody "$T/nobody"
run_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    env HOME="$T/nobody" XDG_CONFIG_HOME="$T/nobody/.config" \
	    P11AGENT_SOCK="$P11AGENT_SOCK" "$@"
}
# The agent closes the connection; the client says why (environment, 2).
expect_fail 2 "uid|other users" run_nobody "$BIN/p11" status
grep -Eq "uid" "$T/u/log" || fail "agent did not log the refused uid"
p11 status >/dev/null || fail "owner refused"
# Another user cannot fill the log: one line per 10 s, then a count.
i=0
while [ $i -lt 20 ]; do
	run_nobody "$BIN/p11" status >/dev/null 2>&1 && fail "nobody served"
	i=$((i + 1))
done
n=$(grep -c "refused connection from uid" "$T/u/log")
[ "$n" -eq 1 ] || fail "$n refusal lines for 21 refusals within 10 s"
sleep 10
run_nobody "$BIN/p11" status >/dev/null 2>&1 && fail "nobody served"
grep -q "refused 20 more connections from other uids" "$T/u/log" ||
    fail "no count of the refusals left out: $(grep refused "$T/u/log")"
[ "$(grep -c "refused connection from uid" "$T/u/log")" -eq 2 ] ||
    fail "no refusal line after 10 s"
p11 status >/dev/null || fail "owner refused after the flood"
pass "peer uid"
