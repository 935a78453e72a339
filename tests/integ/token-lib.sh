# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# token-lib.sh - sourced (after lib.sh) by the token-*.sh and pin-*.sh
# tests: a private copy of the fixture token, the scripted pinentry, and
# small counters.

# private_token: SOFTHSM2_CONF now names a copy of the fixture token in
# $T/tok (same serial, label, keys and PIN), so that wrong PINs, a server
# in front of it or heavy load disturb no other test.
private_token() {
	mkdir -p "$T/tok/tokens"
	cp -R "$P11AGENT_TEST_DIR/tokens/." "$T/tok/tokens/"
	sed "s|^directories.tokendir = .*|directories.tokendir = $T/tok/tokens|" \
	    "$P11AGENT_TEST_DIR/softhsm2.conf" >"$T/tok/softhsm2.conf"
	SOFTHSM2_CONF=$T/tok/softhsm2.conf
	export SOFTHSM2_CONF
}

# fake_pinentry: the scripted pinentry as $PINENTRY, answering with the
# fixture PIN; its state and records are in $FAKE_PINENTRY_DIR.
fake_pinentry() {
	FAKE_PINENTRY_DIR=$T/pe
	export FAKE_PINENTRY_DIR
	mkdir -p "$FAKE_PINENTRY_DIR"
	cp "$P11AGENT_SRC/tests/integ/fake-pinentry.sh" "$T/pe/pinentry"
	chmod 700 "$T/pe/pinentry"
	PINENTRY=$T/pe/pinentry
	cat "$P11AGENT_TEST_PINFILE" >"$T/pe/pin"
	echo ok >"$T/pe/mode"
}

# lines FILE: its number of lines, 0 when it does not exist.
lines() {
	if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# now_ms: wall clock in milliseconds.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# verify_sig KEYNAME FILE SIG: an ECDSA or RSA PKCS#1 signature with
# SHA-256 by the certificate's key.
verify_sig() {
	[ -f "$T/$1.pub.pem" ] || pubkey "$1" >/dev/null
	openssl dgst -sha256 -verify "$T/$1.pub.pem" -signature "$3" "$2" \
	    >/dev/null 2>&1
}

# need_p11kit_server: skips unless "p11-kit server" and p11-kit-client.so
# are installed; sets CLIENT_MOD (the client module), SRV (the server's
# socket) and P11_KIT_SERVER_ADDRESS for start_server.
need_p11kit_server() {
	command -v p11-kit >/dev/null 2>&1 || skip "p11-kit not installed"
	CLIENT_MOD=""
	for d in "$(pkg-config --variable=p11_module_path p11-kit-1 \
	    2>/dev/null)" /usr/lib/x86_64-linux-gnu/pkcs11 /usr/lib/pkcs11 \
	    /usr/lib64/pkcs11; do
		if [ -n "$d" ] && [ -f "$d/p11-kit-client.so" ]; then
			CLIENT_MOD=$d/p11-kit-client.so
			break
		fi
	done
	[ -n "$CLIENT_MOD" ] || skip "p11-kit-client.so not found"
	SRV=$T/hsm.sock
	P11_KIT_SERVER_ADDRESS=unix:path=$SRV
	export P11_KIT_SERVER_ADDRESS
	SRV_PID=""
}

# start_server: "p11-kit server" in front of the fixture token at $SRV
# (an HSM reached over a connection); its pid in SRV_PID.
start_server() {
	rm -f "$SRV"
	p11-kit server -f -n "$SRV" --provider "$P11AGENT_TEST_MODULE" \
	    "pkcs11:token=$P11AGENT_TEST_TOKEN_LABEL" >"$T/srv.out" \
	    2>>"$T/srv.err" &
	SRV_PID=$!
	i=0
	until [ -S "$SRV" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "p11-kit server did not start"
		sleep 0.05
	done
}

# agent_via_server NAME: a private copy of the token behind "p11-kit
# server" (an HSM reached over a connection) and a private agent NAME
# reaching it through p11-kit-client.so, logged in. On exit the server is
# killed (SIGKILL also ends a stopped one), then the agents.
agent_via_server() {
	need_p11kit_server
	private_token
	trap 'if [ -n "$SRV_PID" ]; then kill_server; fi; cleanup' EXIT
	start_server
	start_agent "$1" --module "$CLIENT_MOD" \
	    --pin-file "$P11AGENT_TEST_PINFILE"
	p11 status | grep -q "logged in" ||
	    fail "agent not logged in through p11-kit"
}

# children PID: the processes whose parent is PID (from /proc; no procps).
children() {
	parent=$1
	for f in /proc/[0-9]*/stat; do
		s=$(cat "$f" 2>/dev/null) || continue
		# "pid (comm) state ppid ...": comm may hold spaces.
		rest=${s##*) }
		# shellcheck disable=SC2086
		set -- $rest
		[ "$2" = "$parent" ] && echo "${s%% *}"
	done
	return 0
}

# signal_server SIG: the server and the children that serve the agent.
signal_server() {
	# shellcheck disable=SC2046
	kill "-$1" "$SRV_PID" $(children "$SRV_PID") 2>/dev/null || true
}

# kill_server: the HSM is gone.
kill_server() {
	signal_server KILL
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
}
