#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# links-no-p11kit.sh FILE... - none of these executables or libraries
# links libp11-kit or libffi, directly or through another library.
# The agent leaves p11-kit to its helper (agent-no-p11kit.sh); libp11agent
# and p11 load it on the first pkcs11: URI reference
# (client/lib/keylist.c), because loading it at start made every client
# process, one per S/MIME message, about 0.4 ms slower
# (docs/PERFORMANCE.md, section 5).
set -eu
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v readelf >/dev/null 2>&1 ||
    { echo "skip: no readelf" >&2; exit 77; }

for f in "$@"; do
	needed=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	[ -n "$needed" ] || fail "$f: no NEEDED entries"
	for l in $needed; do
		case $l in
		libp11-kit.so*|libffi.so*)
			fail "$f links $l" ;;
		esac
	done
	if command -v ldd >/dev/null 2>&1 &&
	    ldd "$f" | grep -E 'libp11-kit\.so|libffi\.so' >&2; then
		fail "$f loads libp11-kit or libffi through a library"
	fi
	echo "ok: $(basename "$f") links: $(echo $needed)"
done
