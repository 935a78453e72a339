#!/bin/sh
# SPDX-License-Identifier: ISC
# CTest fixture "softhsm": a fresh fixture token for this build. Exits 77
# (skip) when SoftHSM is missing, unless P11AGENT_REQUIRE_SOFTHSM=1 (CI),
# where a missing SoftHSM is a failure.
set -u
dir=$P11AGENT_BUILD/integ-fixture
rm -rf "$dir"
bash "$P11AGENT_SRC/softhsm-fixtures/mktoken.sh" "$dir"
r=$?
if [ $r -eq 77 ] && [ "${P11AGENT_REQUIRE_SOFTHSM:-0}" = 1 ]; then
	echo "softhsm-setup: SoftHSM missing but P11AGENT_REQUIRE_SOFTHSM=1" >&2
	exit 1
fi
exit $r
