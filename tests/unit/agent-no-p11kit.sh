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

sh "$(dirname "$0")/links-no-p11kit.sh" "$agent"
[ -x "$helper" ] || fail "$helper: not built"
[ "$(dirname "$helper")" = "$(dirname "$agent")" ] ||
    fail "$helper: not beside $agent"
readelf -d "$helper" | grep -q 'NEEDED.*\[libp11-kit\.so' ||
    fail "$helper does not link libp11-kit"
echo "ok: the helper, beside the agent, links libp11-kit"
