#!/bin/sh
# SPDX-License-Identifier: ISC
# Hostile clients: garbage, oversized, empty, forged, tampered, replayed,
# reordered and wrong-direction frames each close only their own
# connection; a bystander connection and new clients keep being served.
# Malformed requests inside a good session get typed failures.
. "$(dirname "$0")/lib.sh"
use_shared_agent

nc=$P11AGENT_SRC/tests/integ/noiseclient.py
for mode in status garbage oversize zero badhello wrongkey badversion \
    tamper replay reorder shortframe wrongdir badreq "pipeline 200"; do
	# shellcheck disable=SC2086
	/usr/bin/python3 "$nc" "$P11AGENT_SOCK" "$P11AGENT_SOCK.pub" $mode ||
	    fail "mode $mode"
	p11 status >/dev/null || fail "agent stopped serving after $mode"
done
pass "hostile frames"
