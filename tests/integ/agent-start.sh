#!/bin/sh
# SPDX-License-Identifier: ISC
# CTest fixture "agent": the shared agent, started the way users start it
# (daemonised, ssh-agent style output evaluated by the shell).
set -eu
dir=$P11AGENT_BUILD/integ-fixture
. "$dir/env"
mkdir -p "$dir/agent" "$dir/home"
chmod 700 "$dir/agent" "$dir/home"
HOME=$dir/home XDG_CONFIG_HOME=$dir/home/.config
export HOME XDG_CONFIG_HOME
out=$("$P11AGENT_BUILD/bin/p11agent" --socket "$dir/agent/sock" \
    --agent-key "$dir/agent/agent.key" \
    --module "$P11AGENT_TEST_MODULE" --pin-file "$P11AGENT_TEST_PINFILE")
echo "$out"
eval "$out"
[ "$P11AGENT_SOCK" = "$dir/agent/sock" ] || { echo "bad P11AGENT_SOCK" >&2; exit 1; }
echo "$P11AGENT_PID" >"$dir/agent/pid"
kill -0 "$P11AGENT_PID"
[ -S "$P11AGENT_SOCK" ] && [ -f "$P11AGENT_SOCK.pub" ]
