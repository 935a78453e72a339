#!/bin/sh
# SPDX-License-Identifier: ISC
# When the audit log cannot be written, nothing is signed unrecorded:
# on a full filesystem (a 64 KiB tmpfs, when we may mount one) the
# agent withholds the signature and says "audit log not writable: No
# space left on device", serves again once there is room, and the chain
# still verifies; with /dev/full as the log it refuses to start, unless
# --audit-fail=continue, which sends each line to syslog (here stderr)
# and signs.
. "$(dirname "$0")/lib.sh"
need_fixture
printf 'message\n' >"$T/m"

# /dev/full: every write fails with ENOSPC.
if [ -c /dev/full ] && [ -w /dev/full ]; then
	# shellcheck disable=SC2046
	expect_fail 1 "audit log: .*No space left on device" p11agent \
	    --foreground --socket "$T/f.sock" --agent-key "$T/f.key" \
	    $(token_opts) --audit-log /dev/full
	# shellcheck disable=SC2046
	start_agent cont $(token_opts) --audit-log /dev/full \
	    --audit-fail continue
	p11 sign --key carol --in "$T/m" >/dev/null ||
	    fail "--audit-fail=continue refused to sign"
	grep -q 'audit log /dev/full not writable (No space left on device); record: {"time":.*"op":"sign".*"key_label":"carol"' \
	    "$T/cont/log" || fail "the record did not go to the log instead"
	stop_agent
	pass "/dev/full: refuse to start; continue mode logs to syslog"
fi

# A real full filesystem needs a mount of our own.
mkdir -p "$T/fs"
if [ "$(id -u)" -ne 0 ] ||
    ! mount -t tmpfs -o size=64k,mode=0700 p11agent-test "$T/fs" 2>/dev/null
then
	skip "cannot mount a small tmpfs (not root, or no permission)"
fi
trap 'stop_agent; umount "$T/fs" 2>/dev/null; cleanup' EXIT
LOG=$T/fs/audit.log
# shellcheck disable=SC2046
start_agent full $(token_opts) --audit-log "$LOG"
p11 sign --key carol --in "$T/m" --out "$T/sig0" || fail "sign with room"
# Fill the filesystem, then sign until the log has no room left.
dd if=/dev/zero of="$T/fs/fill" bs=1024 2>/dev/null || true
n=0; signed=1
while :; do
	n=$((n + 1))
	[ $n -le 64 ] || fail "the log never filled up"
	rm -f "$T/sig"
	if p11 sign --key carol --in "$T/m" --out "$T/sig" 2>"$T/err"; then
		signed=$((signed + 1))
		continue
	fi
	grep -q "audit log not writable: No space left on device" "$T/err" ||
	    fail "wrong error when full: $(cat "$T/err")"
	[ ! -e "$T/sig" ] || fail "a signature came out unrecorded"
	break
done
# Every operation now is refused, decryption too, and nothing comes out.
openssl rand 16 >"$T/k"
openssl pkeyutl -encrypt -pubin -inkey "$(pubkey alice)" -in "$T/k" -out "$T/w"
expect_fail 1 "audit log not writable: No space left on device" \
    p11 decrypt --key alice --alg rsa-pkcs1 --in "$T/w" --out "$T/k2"
[ ! -e "$T/k2" ] || fail "an unwrapped key came out unrecorded"
kill -0 "$AGENT_PID" || fail "the agent died"
pass "full disk: operations refused with a clear error"

# Room again: operations resume; the file holds whole lines only.
rm -f "$T/fs/fill"
p11 sign --key carol --in "$T/m" >/dev/null || fail "no recovery after rm"
signed=$((signed + 1))
p11 audit verify "$LOG" >/dev/null || fail "the chain broke on ENOSPC"
[ "$(grep -c '"op":"sign".*"result":"ok"' "$LOG")" -eq "$signed" ] ||
    fail "$signed signatures, $(grep -c '"op":"sign"' "$LOG") sign lines"
pass "room again: signing resumes, chain intact, every signature logged"
