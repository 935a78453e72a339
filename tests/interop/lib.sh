# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# lib.sh - sourced by the interop tests, after tests/integ/lib.sh (which
# gives $T, fail/pass/skip and the shared agent). Sets ROOT, E (the
# message editor) and W (a certificate directory with the fixture's and
# the software users' certificates); softuser makes software keys.
. "$P11AGENT_SRC/tests/integ/lib.sh"
use_shared_agent
ROOT=$CERTS/root.pem
E=$P11AGENT_SRC/tests/integ/smime-edit.py
FIX=$P11AGENT_SRC/softhsm-fixtures
W=$T/certs
mkdir -p "$W"
cp "$CERTS"/*.pem "$W/"
_soft_names=""

need_prog() {
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 ||
		    skip "$p not installed (Debian: gpgsm, libnss3-tools, openssl)"
	done
}

# softuser NAME TYPE: a software key and certificate for
# NAME@bigcorp.example: $T/NAME.key, $T/NAME.pem, and $W/NAME@...pem.
softuser() {
	n=ix-$1-$$
	bash "$FIX/mksoftcert.sh" "$FIXDIR" "$n" "$2" --force \
	    --email "$1@bigcorp.example" --cn "${1} Soft" \
	    --out "$T/$1.pem" >/dev/null || fail "mksoftcert.sh $1"
	cp "$FIXDIR/soft/$n.key" "$T/$1.key"
	rm -f "$FIXDIR/soft/$n.key" "$FIXDIR/soft/$n.pub.pem"
	cp "$T/$1.pem" "$W/$1@bigcorp.example.pem"
}

# message FROM TO > file: a small RFC 5322 message with an 8-bit body.
message() {
	printf 'From: %s\nTo: %s\nSubject: interop %s\n' "$1" "$2" "$$"
	printf 'Date: Mon, 1 Jan 2026 10:00:00 +0000\n\n'
	printf 'interop body line 1\nGr\303\274\303\237e, line 2\n'
}

# entity > file: a MIME entity for peers to sign or encrypt.
entity() {
	printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\n'
	printf 'interop body from a peer\r\n'
}

# headers FROM TO > file: the RFC 5322 fields put before a peer's output.
headers() {
	printf 'From: %s\r\nTo: %s\r\nSubject: from a peer\r\n' "$1" "$2"
}
