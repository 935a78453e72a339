#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# sanitizer-reports.sh DIR - the last test of a sanitizer build. Every
# process of the suite (daemonised agents included) writes its ASan,
# LSan and UBSan reports to DIR/{asan,ubsan}.PID (ASAN_OPTIONS and
# UBSAN_OPTIONS log_path, tests/CMakeLists.txt). Any report fails this
# test and is printed; reports are then moved to DIR/seen/ so that the
# next run starts clean.
set -eu
dir=${1:?usage: sanitizer-reports.sh DIR}
[ -d "$dir" ] || { echo "no report directory $dir"; exit 0; }
found=0
for f in "$dir"/asan.* "$dir"/ubsan.*; do
	[ -f "$f" ] || continue
	found=$((found + 1))
	echo "==== $f"
	cat "$f"
	mkdir -p "$dir/seen"
	mv "$f" "$dir/seen/"
done
if [ "$found" -gt 0 ]; then
	echo "FAIL: $found sanitizer report(s); see above (moved to $dir/seen)"
	exit 1
fi
echo "ok: no sanitizer reports"
