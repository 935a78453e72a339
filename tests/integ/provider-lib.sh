# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# provider-lib.sh - sourced by tests/integ/provider-*.sh: lib.sh plus the
# OpenSSL provider from this build (p11agent.so through OPENSSL_MODULES).
# PROV is the openssl(1) option pair every test uses; cert NAME prints
# the path of NAME's certificate.
. "$(dirname "$0")/lib.sh"

OPENSSL_MODULES=$P11AGENT_BUILD/lib
export OPENSSL_MODULES
[ -f "$OPENSSL_MODULES/p11agent.so" ] || fail "p11agent.so not built"
# In an ASan build p11agent.so needs the ASan runtime loaded first, and
# openssl(1) is not instrumented: preload it there, leak checks off (the
# leaks would be openssl's own; the provider's code paths are leak-checked
# in provider-check and the p11 tools).
if [ -n "${P11AGENT_ASAN_RUNTIME:-}" ]; then
	openssl() {
		LD_PRELOAD=$P11AGENT_ASAN_RUNTIME \
		    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
		    command openssl "$@"
	}
fi
# shellcheck disable=SC2034 # used by the scripts that source this
PROV="-provider p11agent -provider default"

cert() {
	echo "$CERTS/$1@bigcorp.example.pem"
}
