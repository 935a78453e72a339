#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# valgrind-integ.sh [BUILD_DIR] - the shared agent of the integration
# tests runs under valgrind memcheck while every integration test that
# uses it (FIXTURES_REQUIRED agent) runs against it, and so does every
# p11 and p11-gitsign those tests run (a wrapper directory first in their
# PATH: P11AGENT_TEST_WRAP, read by tests/integ/lib.sh); then the agent
# is stopped with SIGTERM. Passes only when the tests pass and memcheck
# reports no errors and no definitely lost blocks
# (--errors-for-leak-kinds=definite) in any of those processes. Not part
# of the CTest suite (it takes minutes); .ci/run runs it after the suite,
# on the same build:
#   sh tests/robust/valgrind-integ.sh build
# The agent's memcheck log is left in BUILD_DIR/valgrind-agent.log, the
# clients' in BUILD_DIR/valgrind-clients/ (one per process).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
command -v valgrind >/dev/null || { echo "valgrind missing" >&2; exit 77; }
cd "$build"
export P11AGENT_BUILD="$build" P11AGENT_SRC="$src"
fix=$build/integ-fixture
log=$build/valgrind-agent.log
clogs=$build/valgrind-clients
wrap=$build/valgrind-wrap
memcheck="valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --error-exitcode=99 --track-origins=yes
    --num-callers=30 --suppressions=$src/tests/robust/valgrind.supp"

# The token fixture (built unless present).
[ -f "$fix/env" ] || ctest -R '^softhsm\.setup$' --output-on-failure
. "$fix/env"

# The tests that talk to the shared agent.
tests=$(ctest --show-only=json-v1 -L integ | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
names = []
for t in d["tests"]:
    for p in t.get("properties", []):
        if p["name"] == "FIXTURES_REQUIRED" and "agent" in p["value"]:
            names.append(t["name"])
print("|".join(n.replace(".", "\\.") for n in names))')
[ -n "$tests" ] || { echo "no shared-agent tests found" >&2; exit 1; }

# The client tools under memcheck: quiet (-q), so a client's log has
# lines only when memcheck found something.
rm -rf "$clogs" "$wrap"
mkdir -p "$clogs" "$wrap"
for prog in p11 p11-gitsign; do
	cat >"$wrap/$prog" <<EOF
#!/bin/sh
exec $(echo $memcheck) -q --log-file=$clogs/$prog.%p.log $build/bin/$prog "\$@"
EOF
	chmod 755 "$wrap/$prog"
done

mkdir -p "$fix/agent" "$fix/home"
chmod 700 "$fix/agent" "$fix/home"
rm -f "$fix/agent/sock" "$fix/agent/sock.pub"
HOME=$fix/home XDG_CONFIG_HOME=$fix/home/.config \
$memcheck --log-file="$log" \
    "$build/bin/p11agent" --foreground --socket "$fix/agent/sock" \
    --agent-key "$fix/agent/agent.key" \
    --module "$P11AGENT_TEST_MODULE" --pin-file "$P11AGENT_TEST_PINFILE" \
    >"$build/valgrind-agent.out" 2>&1 &
vg=$!
echo "$vg" >"$fix/agent/pid"
i=0
while [ ! -f "$fix/agent/sock.pub" ]; do
	kill -0 "$vg" 2>/dev/null || { cat "$log" >&2; exit 1; }
	i=$((i + 1)); [ $i -lt 600 ] || { echo "agent did not start" >&2; exit 1; }
	sleep 0.1
done

set +e
# -FA: the fixtures are the token made above and this agent, not
# softhsm.setup's (it would rebuild the directory) and agent.start's.
# smime-large's message shrinks from 100 MB to 4 MB: the same streaming
# code (no size switches it), in minutes rather than hours under memcheck.
P11AGENT_TEST_WRAP=$wrap P11AGENT_LARGE_MB=${P11AGENT_LARGE_MB:-4} \
    ctest --output-on-failure -j2 -R "^($tests)\$" -FA 'softhsm|agent'
tests_rc=$?
kill -TERM "$vg"
wait "$vg"
vg_rc=$?
set -e
grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable' "$log" || true
nclients=$(find "$clogs" -name '*.log' | wc -l)
bad=$(find "$clogs" -name '*.log' -size +0 | sort)
for f in $bad; do
	echo "== $f" >&2
	cat "$f" >&2
done
nbad=$(echo "$bad" | grep -c . || true)
echo "valgrind-integ: tests exit $tests_rc, agent's valgrind exit $vg_rc (99: memcheck errors or definite leaks; log $log); $nclients client processes under memcheck, $nbad with errors or definite leaks (logs in $clogs)"
[ "$tests_rc" -eq 0 ] && [ "$vg_rc" -eq 0 ] && [ "$nclients" -gt 0 ] &&
    [ "$nbad" -eq 0 ]
