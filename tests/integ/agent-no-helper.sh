#!/bin/sh
# SPDX-License-Identifier: ISC
# Without its p11-kit helper (p11agent-p11kit), or with one that exits,
# crashes, floods or answers nonsense, the agent stops its start at once
# with exit status 1 and one line that names the helper and says what to
# do: no hang, no crash. A helper that never answers costs it
# P11AGENT_KIT_TIMEOUT (30 s), then the same, and is killed and reaped.
# One that fails at an UNLOCK fails that login, and the client is told
# that the agent's log has the reason. A copy of the agent in a
# directory of its own finds no helper beside it, and a build installs
# none.
. "$(dirname "$0")/lib.sh"
need_fixture
: "${P11AGENT_KIT_INSTALLED:?run through ctest}"
[ ! -e "$P11AGENT_KIT_INSTALLED" ] ||
    skip "a helper is installed at $P11AGENT_KIT_INSTALLED"
mkdir -p "$T/bin" "$T/a"
chmod 700 "$T/a"
cp "$BIN/p11agent" "$T/bin/p11agent"
# shellcheck disable=SC2046
run() {
	timeout 60 "$T/bin/p11agent" --foreground --socket "$T/a/sock" \
	    --agent-key "$T/a/agent.key" $(token_opts) \
	    --token "pkcs11:token=$P11AGENT_TEST_TOKEN_LABEL"
}
# fails_with REASON: exit 1, and this one line on stderr, nothing else.
fails_with() {
	expect_fail 1 "^p11agent: kit_[a-z_]+: p11-kit helper $h: $1\$" run
	[ "$(wc -l <"$T/ef.err")" -eq 1 ] ||
	    { cat "$T/ef.err" >&2; fail "$1: more than one line"; }
}
# broken SCRIPT: the helper beside the agent's copy is this sh script.
broken() {
	printf '#!/bin/sh\n%s\n' "$1" >"$h"
	chmod 700 "$h"
}

h=$P11AGENT_KIT_INSTALLED
fails_with "cannot run: No such file or directory \(reinstall p11agent\)"
pass "no helper"

h=$T/bin/p11agent-p11kit
broken 'exit 3'
fails_with "exited with status 3 \(reinstall p11agent\)"
broken 'kill -SEGV $$'
fails_with "died of signal 11 \(reinstall p11agent\)"
broken 'while read -r l; do echo "ok 2"; done'
fails_with "malformed answer \(reinstall p11agent\)"
broken 'while read -r l; do printf "ok 0\nok 0\n"; done'
fails_with "malformed answer \(reinstall p11agent\)"
broken 'head -c 100000 /dev/zero | tr "\0" x'
fails_with "answer over 32768 bytes \(reinstall p11agent\)"
pass "broken helpers"

# It reads the request, then sleeps as itself (exec: the pid it wrote).
broken "echo \$\$ >'$T/helper.pid'; read -r l; exec sleep 3600"
fails_with "no answer in 30 s"
pid=$(cat "$T/helper.pid")
if kill -0 "$pid" 2>/dev/null; then
	ps -o pid,stat,args -p "$pid" >&2 || true
	kill -9 "$pid" 2>/dev/null || true
	fail "the silent helper (pid $pid) was left behind"
fi
pass "silent helper"

# A running agent whose helper breaks: UNLOCK (it enumerates the keys
# again) fails, says where the reason is, and the log has it; with the
# helper mended, the next UNLOCK works.
cp "$BIN/p11agent-p11kit" "$h"
# shellcheck disable=SC2046
"$T/bin/p11agent" --foreground --socket "$T/a/sock" \
    --agent-key "$T/a/agent.key" $(token_opts) \
    --token "pkcs11:token=$P11AGENT_TEST_TOKEN_LABEL" 2>"$T/a/log" &
apid=$!
wait_agent "$apid" "$T/a/sock" "$T/a/log" "the agent with a helper beside it"
P11AGENT_SOCK=$T/a/sock
export P11AGENT_SOCK
p11 lock
broken 'exit 3'
expect_fail 1 "unlock: the login failed in the agent, not for the PIN; the agent's log says why" \
    p11 unlock --pin-fd 3 3<"$P11AGENT_TEST_PINFILE"
grep -q "p11-kit helper $h: exited with status 3" "$T/a/log" ||
    { cat "$T/a/log" >&2; fail "the log does not say why"; }
cp "$BIN/p11agent-p11kit" "$h"
sleep 1.2	# the wait after a failed UNLOCK
p11 unlock --pin-fd 3 3<"$P11AGENT_TEST_PINFILE"
printf 'x' >"$T/m"
p11 sign --key carol --alg ecdsa-sha256 --in "$T/m" >/dev/null ||
    fail "sign after the helper was mended"
kill "$apid"
wait "$apid" 2>/dev/null || true
pass "helper failing at an unlock"
