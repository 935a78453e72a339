#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# The agent's config file, and what it will not run: a config file that
# another user may change, and a module (or pinentry) that another user
# could replace, stop the agent at start with one line saying what to
# fix. A config file of our own works: its keys are the long options.
# (Each refusal is bounded: an agent that starts instead fails the test.)
. "$(dirname "$0")/lib.sh"
need_fixture

mkdir -p "$T/a"
chmod 700 "$T/a"
cat >"$T/a/agent.conf" <<CONF
# the demo token
module = $P11AGENT_TEST_MODULE
pin-file = $P11AGENT_TEST_PINFILE
socket = $T/a/sock
agent-key = $T/a/agent.key
foreground
CONF

# Writable by everyone: refused before anything is loaded.
chmod 646 "$T/a/agent.conf"
expect_fail 1 'config file .*agent.conf is writable by everyone \(mode 0646\).*chmod go-w' \
    timeout 20 p11agent --config "$T/a/agent.conf"
[ ! -e "$T/a/sock" ] || fail "a refused config file still started the agent"
pass "a world-writable config file is refused"

# Ours and 0600: the agent runs from it alone.
chmod 600 "$T/a/agent.conf"
p11agent --config "$T/a/agent.conf" >"$T/a/out" 2>"$T/a/log" &
AGENT_PID=$!
wait_agent "$AGENT_PID" "$T/a/sock" "$T/a/log" "the agent of the config file"
P11AGENT_SOCK=$T/a/sock p11 status >"$T/st"
grep -q "p11agent-demo" "$T/st" || fail "no token through the config file's agent"
stop_agent
pass "a private config file starts the agent"

# A module another user could replace: the file, or a directory above.
mkdir -p "$T/m"
cp "$P11AGENT_TEST_MODULE" "$T/m/module.so"
chmod 755 "$T/m"
chmod 666 "$T/m/module.so"
expect_fail 1 "module $T/m/module.so: $T/m/module.so is writable by everyone \\(mode 0666\\)" \
    timeout 20 p11agent --foreground --socket "$T/a/sock2" --agent-key "$T/a/agent.key" \
    --module "$T/m/module.so" --pin-file "$P11AGENT_TEST_PINFILE"
chmod 644 "$T/m/module.so"
chmod 777 "$T/m"
expect_fail 1 "module $T/m/module.so: $T/m is writable by everyone \\(mode 0777\\).*install the module elsewhere" \
    timeout 20 p11agent --foreground --socket "$T/a/sock2" --agent-key "$T/a/agent.key" \
    --module "$T/m/module.so" --pin-file "$P11AGENT_TEST_PINFILE"
# Through a link, the target's directories count.
chmod 755 "$T/m"
mkdir -p "$T/open"
chmod 777 "$T/open"
cp "$T/m/module.so" "$T/open/module.so"
ln -s "$T/open/module.so" "$T/m/link.so"
expect_fail 1 "module $T/m/link.so: $T/open is writable by everyone" \
    timeout 20 p11agent --foreground --socket "$T/a/sock2" --agent-key "$T/a/agent.key" \
    --module "$T/m/link.so" --pin-file "$P11AGENT_TEST_PINFILE"
# The same from the config file, and for a pinentry named by a path.
sed "s|^module = .*|module = $T/m/link.so|" "$T/a/agent.conf" >"$T/a/bad.conf"
chmod 600 "$T/a/bad.conf"
expect_fail 1 "module $T/m/link.so: $T/open is writable by everyone" \
    timeout 20 p11agent --config "$T/a/bad.conf"
cp /bin/true "$T/open/pinentry"
expect_fail 1 "pinentry $T/open/pinentry: $T/open is writable by everyone" \
    timeout 20 p11agent --foreground --socket "$T/a/sock2" --agent-key "$T/a/agent.key" \
    --module "$P11AGENT_TEST_MODULE" --pinentry "$T/open/pinentry"
[ ! -e "$T/a/sock2" ] || fail "a refused module still started an agent"
pass "modules and pinentry programs others could replace are refused"

# The copy in a safe directory loads (the check is not the loader's).
chmod 755 "$T/m"
start_agent ok --module "$T/m/module.so" --pin-file "$P11AGENT_TEST_PINFILE"
p11 status | grep -q "p11agent-demo" || fail "no token through the copied module"
stop_agent
pass "a module in a safe directory loads"
