# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# lib.sh - sourced by every integration test. CTest passes P11AGENT_BUILD
# and P11AGENT_SRC. The shared fixture token lives in $FIXDIR (built by
# softhsm-setup.sh), the shared agent's socket is $FIXDIR/agent/sock
# (agent-start.sh). Tests that need an agent of their own use
# start_agent/stop_agent, which keep everything under $T (a fresh
# directory per test, removed on exit).
set -eu

: "${P11AGENT_BUILD:?run through ctest}"
: "${P11AGENT_SRC:?run through ctest}"
BIN=$P11AGENT_BUILD/bin
FIXDIR=$P11AGENT_BUILD/integ-fixture
PATH=$BIN:$PATH
# tests/robust/valgrind-integ.sh puts memcheck wrappers of the tools first.
[ -z "${P11AGENT_TEST_WRAP:-}" ] || PATH=$P11AGENT_TEST_WRAP:$PATH
export PATH

# Each test gets its own scratch directory and home; nothing global is used.
T=$(mktemp -d "${TMPDIR:-/tmp}/p11agent-test.XXXXXX")
HOME=$T/home
XDG_CONFIG_HOME=$T/home/.config
XDG_RUNTIME_DIR=$T/run
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$HOME" "$XDG_RUNTIME_DIR"
export HOME XDG_CONFIG_HOME XDG_RUNTIME_DIR
unset P11AGENT_SOCK P11AGENT_PID

_agent_pids=""
cleanup() {
	for p in $_agent_pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# In CI (P11AGENT_REQUIRE_SOFTHSM=1) a skip is a failure.
skip() {
	echo "skip: $*" >&2
	[ "${P11AGENT_REQUIRE_SOFTHSM:-0}" = 1 ] && exit 1
	exit 77
}
pass() { echo "ok: $*"; }

need_fixture() {
	[ -f "$FIXDIR/env" ] || fail "fixture token missing: run the softhsm.setup test"
	# shellcheck disable=SC1091
	. "$FIXDIR/env"
	CERTS=$P11AGENT_TEST_CERTS
}

# The shared agent started by the agent fixture.
use_shared_agent() {
	need_fixture
	P11AGENT_SOCK=$FIXDIR/agent/sock
	export P11AGENT_SOCK
	[ -S "$P11AGENT_SOCK" ] || fail "shared agent not running"
}

# start_agent NAME [agent options...]: a private agent on $T/NAME/sock,
# foreground in the background; waits until it listens. Sets AGENT_PID
# and P11AGENT_SOCK.
start_agent() {
	name=$1; shift
	mkdir -p "$T/$name"
	chmod 700 "$T/$name"
	P11AGENT_SOCK=$T/$name/sock
	export P11AGENT_SOCK
	p11agent --foreground --socket "$P11AGENT_SOCK" \
	    --agent-key "$T/$name/agent.key" "$@" \
	    >"$T/$name/out" 2>"$T/$name/log" &
	AGENT_PID=$!
	wait_agent "$AGENT_PID" "$P11AGENT_SOCK" "$T/$name/log" "agent $name"
}

# wait_agent PID SOCKET LOG WHAT: an agent started by hand in the
# background is killed on exit and waited for until it publishes its key
# beside SOCKET; if it exits first, its LOG is shown and the test fails.
wait_agent() {
	_agent_pids="$_agent_pids $1"
	i=0
	while [ ! -f "$2.pub" ]; do
		if ! kill -0 "$1" 2>/dev/null; then
			cat "$3" >&2
			fail "$4 exited during start-up"
		fi
		i=$((i + 1))
		[ $i -lt 300 ] || fail "$4 did not start in 30 s"
		sleep 0.1
	done
}

stop_agent() {
	kill "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null || true
}

# The token's default options for a private agent.
token_opts() {
	echo "--module $P11AGENT_TEST_MODULE --pin-file $P11AGENT_TEST_PINFILE"
}

# pubkey NAME: the certificate's public key as PEM in $T/NAME.pub.pem
pubkey() {
	openssl x509 -in "$CERTS/$1@bigcorp.example.pem" -noout -pubkey \
	    >"$T/$1.pub.pem"
	echo "$T/$1.pub.pem"
}

# expect_fail EXIT_CODE PATTERN cmd...: the command must exit with
# EXIT_CODE and print PATTERN (grep -E) on stderr.
expect_fail() {
	want=$1; pat=$2; shift 2
	set +e
	"$@" >"$T/ef.out" 2>"$T/ef.err"
	got=$?
	set -e
	[ "$got" -eq "$want" ] || {
		cat "$T/ef.err" >&2
		fail "$* exited $got, wanted $want"
	}
	grep -Eq "$pat" "$T/ef.err" || {
		cat "$T/ef.err" >&2
		fail "$*: stderr lacks /$pat/"
	}
	[ "$(wc -l <"$T/ef.err")" -ge 1 ] || fail "$*: no error line"
}
