# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# lib.sh - sourced by tests/robust/*.sh: tests/integ/lib.sh plus the
# agent's resident memory and open descriptors from /proc.
. "$P11AGENT_SRC/tests/integ/lib.sh"

# rss_kb PID: VmRSS in kB.
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# nfds PID: open file descriptors.
nfds() {
	ls "/proc/$1/fd" | wc -l
}

# Under ASan the allocator's quarantine and shadow memory make RSS grow
# by design, so memory is reported but not judged there.
sanitized() {
	case "${ASAN_OPTIONS:-}" in
	*log_path*) return 0 ;;
	esac
	return 1
}

# settle PID: waits until the agent has closed every client connection
# (its fd count stops changing), at most 10 s.
settle() {
	prev=-1; i=0
	while [ $i -lt 50 ]; do
		cur=$(nfds "$1")
		[ "$cur" = "$prev" ] && return 0
		prev=$cur; i=$((i + 1))
		sleep 0.2
	done
}

# softhsm_allowance_kb FILE: RSS the SoftHSM 2.6 module may add for the
# ECDH derivations loadclient reported in FILE. SoftHSM keeps every
# session object destroyed by C_DestroyObject until its session closes
# (SoftHSMv2 issue #562), and libp11 destroys the secret object of each
# C_DeriveKey in a session the agent keeps: about 240 bytes per derive
# that are not the agent's (measured: derive-only passes grow by that,
# sign, decrypt and ping passes stay flat). 256 bytes each are allowed.
softhsm_allowance_kb() {
	n=$(sed -n 's/.*derive \([0-9]*\),.*/\1/p' "$1" | awk '{ s += $1 } END { print s + 0 }')
	echo $((n * 256 / 1024))
}
