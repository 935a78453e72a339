#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# client-no-p11kit.sh LIB P11 - libp11agent and p11 start without
# libp11-kit and libffi: the library loads p11-kit on the first pkcs11:
# URI reference (client/lib/keylist.c), because loading it at start made
# every client process, one per S/MIME message, about 0.5 ms slower
# (docs/PERFORMANCE.md, section 5). integ.agent-keys and token-multi
# prove that URI references still work.
set -eu
lib=$1
p11=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v readelf >/dev/null 2>&1 ||
    { echo "skip: no readelf" >&2; exit 77; }

for f in "$lib" "$p11"; do
	needed=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	[ -n "$needed" ] || fail "$f: no NEEDED entries"
	for l in $needed; do
		case $l in
		libp11-kit.so*|libffi.so*)
			fail "$f links $l; keylist.c loads it on demand" ;;
		esac
	done
done
if command -v ldd >/dev/null 2>&1; then
	if ldd "$p11" | grep -E 'libp11-kit\.so|libffi\.so' >&2; then
		fail "$p11 loads libp11-kit or libffi through a library"
	fi
fi
echo "ok: neither $(basename "$lib") nor p11 links libp11-kit"
