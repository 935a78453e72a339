#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# agent-no-p11kit.sh AGENT HELPER - the agent links neither libp11-kit
# nor libffi, directly or through another library: libp11-kit is linked
# NODELETE, so once in it stays resident for good (docs/PERFORMANCE.md,
# section 6). Its p11-kit work belongs to the helper, which is built
# beside the agent, where the agent looks for it first.
set -eu
agent=$1
helper=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v readelf >/dev/null 2>&1 ||
    { echo "skip: no readelf" >&2; exit 77; }

needed=$(readelf -d "$agent" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || fail "$agent: no NEEDED entries"
for lib in $needed; do
	case $lib in
	libp11-kit.so*|libffi.so*)
		fail "$agent links $lib; p11-kit work goes to p11agent-p11kit" ;;
	esac
done
if command -v ldd >/dev/null 2>&1; then
	if ldd "$agent" | grep -E 'libp11-kit\.so|libffi\.so' >&2; then
		fail "$agent loads libp11-kit or libffi through a library"
	fi
fi
[ -x "$helper" ] || fail "$helper: not built"
[ "$(dirname "$helper")" = "$(dirname "$agent")" ] ||
    fail "$helper: not beside $agent"
readelf -d "$helper" | grep -q 'NEEDED.*\[libp11-kit\.so' ||
    fail "$helper does not link libp11-kit"
echo "ok: p11agent links: $(echo $needed)"
