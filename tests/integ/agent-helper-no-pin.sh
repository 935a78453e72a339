#!/bin/sh
# SPDX-License-Identifier: ISC
# The p11-kit helper gets URIs, module names, token descriptions, key
# labels and CKA_IDs, never a PIN: not the PIN file's at start-up, not
# one sent by p11 unlock (in clear or in hex). And no helper outlives its
# scan: once the agent listens, and after an unlock, it has no child.
. "$(dirname "$0")/lib.sh"
need_fixture
mkdir -p "$T/bin"
cp "$BIN/p11agent" "$T/bin/p11agent"
# The agent finds this wrapper beside itself; it records the requests.
cat >"$T/bin/p11agent-p11kit" <<EOS
#!/bin/sh
tee -a "$T/helper.in" | "$BIN/p11agent-p11kit" "\$@"
EOS
chmod 700 "$T/bin/p11agent-p11kit"
PATH=$T/bin:$PATH

no_child() {
	kids=$(ps -o pid=,args= --ppid "$AGENT_PID" || true)
	[ -z "$kids" ] || fail "$1: the agent has children: $kids"
}

# shellcheck disable=SC2046
start_agent h $(token_opts) --token "pkcs11:token=$P11AGENT_TEST_TOKEN_LABEL"
no_child "after start-up"
p11 keys | grep -q 'uri=pkcs11:.*object=carol' || fail "no key URI"
p11 lock
p11 unlock --pin-fd 3 3<"$P11AGENT_TEST_PINFILE"
no_child "after unlock"
stop_agent

grep -q '^uri ' "$T/helper.in" || fail "no uri request recorded"
grep -q '^keyuri ' "$T/helper.in" || fail "no keyuri request recorded"
pin=$(head -n 1 "$P11AGENT_TEST_PINFILE")
pinhex=$(printf '%s' "$pin" | od -An -v -tx1 | tr -d ' \n')
if grep -qiF -e "$pin" -e "$pinhex" "$T/helper.in"; then
	fail "the PIN reached the helper"
fi
pass "the helper sees no PIN and leaves no process"
