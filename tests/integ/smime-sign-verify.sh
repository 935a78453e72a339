#!/bin/sh
# SPDX-License-Identifier: ISC
# p11 smime sign / verify through the agent: every fixture key (RSA 2048
# and 3072, EC P-256 and P-384), every digest, detached and opaque; the
# key found from From:; outer header fields kept and Bcc removed; 8-bit
# bodies made 7-bit; LF-only copies still verify; the content with --out;
# and the usage errors.
. "$(dirname "$0")/lib.sh"
use_shared_agent
ROOT=$CERTS/root.pem

mkmsg() {	# mkmsg FROM-NAME > file
	printf 'From: %s Example <%s@bigcorp.example>\n' "$1" "$1"
	printf 'To: Bob Example <bob@bigcorp.example>\n'
	printf 'Bcc: dave@bigcorp.example\n'
	printf 'Subject: numbers for %s\n' "$1"
	printf 'Date: Mon, 1 Jan 2026 10:00:00 +0000\n'
	printf 'Message-ID: <%s.1@bigcorp.example>\n\n' "$1"
	printf 'Hello Bob,\nthe numbers: 1 2 3.\n\303\274mlaut and a long line follow.\n'
	printf '%01200d\n' 0
}

for who in alice bob carol dave; do
	mkmsg $who >"$T/$who.txt"
	Who=$(printf '%s' "$who" | sed 's/^./\U&/')
	for d in sha256 sha384 sha512; do
		for mode in detached opaque; do
			opt=
			[ $mode = opaque ] && opt=--opaque
			p11 smime sign --certs "$CERTS" --digest $d $opt \
			    --in "$T/$who.txt" --out "$T/s.eml"
			p11 smime verify --CAfile "$ROOT" --certs "$CERTS" \
			    --in "$T/s.eml" 2>"$T/v.err" ||
			    { cat "$T/v.err" >&2; fail "$who $d $mode: verify"; }
			grep -q "^good signature from $Who Example <$who@bigcorp.example>, signed [0-9-]* [0-9:]* UTC, certificate issued by p11agent Test Intermediate CA\$" \
			    "$T/v.err" || { cat "$T/v.err" >&2; fail "$who $d $mode: verdict line"; }
		done
		pass "$who $d detached and opaque"
	done
	# The micalg and the structure of a detached signature.
	p11 smime sign --certs "$CERTS" --digest sha384 --in "$T/$who.txt" \
	    >"$T/s.eml"
	grep -q 'micalg=sha-384' "$T/s.eml" || fail "micalg not sha-384"
	grep -q 'protocol="application/pkcs7-signature"' "$T/s.eml" ||
	    fail "protocol parameter"
	grep -q '^Subject: numbers for '$who "$T/s.eml" || fail "Subject lost"
	grep -q '^Message-ID: <'$who'.1@bigcorp.example>' "$T/s.eml" ||
	    fail "Message-ID lost"
	! grep -qi '^Bcc:' "$T/s.eml" || fail "Bcc kept in signed output"
	! LC_ALL=C grep -q "$(printf '[\200-\377]')" "$T/s.eml" ||
	    fail "8-bit bytes in the signed message"
	awk 'length($0) > 999 { exit 1 }' "$T/s.eml" || fail "line over 998"
	# LF line endings (as many mailboxes store mail) still verify.
	tr -d '\r' <"$T/s.eml" >"$T/lf.eml"
	p11 smime verify --CAfile "$ROOT" --in "$T/lf.eml" 2>/dev/null ||
	    fail "$who: LF copy does not verify"
done
pass "headers kept, Bcc removed, 7-bit output, LF copies verify"

# --key by key id and by label; the certificate comes from the agent.
id=$(p11 keys --json | python3 -c 'import json,sys; print([k["id"] for k in json.load(sys.stdin) if k["label"]=="carol"][0])')
p11 smime sign --key "$id" --certs "$CERTS" --in "$T/carol.txt" \
    --out "$T/k.eml"
p11 smime verify --CAfile "$ROOT" --in "$T/k.eml" 2>/dev/null ||
    fail "--key ID"
p11 smime sign --key alice --in "$T/alice.txt" --out "$T/k.eml"
p11 smime verify --CAfile "$ROOT" --certs "$CERTS" --in "$T/k.eml" \
    2>/dev/null || fail "--key label"
pass "--key by id and label"

# The default certificate directory ($XDG_DATA_HOME/p11agent/certs).
XDG_DATA_HOME=$T/data
export XDG_DATA_HOME
mkdir -p "$XDG_DATA_HOME/p11agent/certs"
cp "$CERTS/intermediate.pem" "$XDG_DATA_HOME/p11agent/certs/"
p11 smime sign --in "$T/dave.txt" --out "$T/s.eml"
p11 smime verify --CAfile "$ROOT" --in "$T/s.eml" 2>/dev/null ||
    fail "default certificate directory"
pass "default certificate directory"

# The signed content with --out: canonical, 7-bit, with its Content-Type.
p11 smime verify --CAfile "$ROOT" --in "$T/s.eml" --out "$T/content" \
    2>/dev/null
grep -q '^Content-Type: text/plain; charset=utf-8' "$T/content" ||
    fail "--out content lacks its Content-Type"
grep -q '^Content-Transfer-Encoding: quoted-printable' "$T/content" ||
    fail "8-bit body not quoted-printable"
grep -q '=C3=BCmlaut' "$T/content" || fail "umlaut not encoded"
p11 smime verify --CAfile "$ROOT" --in "$T/s.eml" --out - 2>/dev/null |
    cmp -s - "$T/content" || fail "--out - differs"
pass "verify --out writes the signed content"

# stdin / stdout defaults, and show.
p11 smime sign <"$T/alice.txt" >"$T/s.eml"
p11 smime verify --CAfile "$ROOT" <"$T/s.eml" 2>/dev/null ||
    fail "stdin/stdout"
p11 smime show <"$T/s.eml" >"$T/show"
grep -q 'multipart/signed' "$T/show" && grep -q 'signer: Alice Example' \
    "$T/show" && grep -q 'ESS signing certificate: v2' "$T/show" ||
    { cat "$T/show" >&2; fail "show"; }
pass "stdin/stdout and show"

# Usage and environment errors exit 2; bad input exits 1.
printf 'Subject: no sender\n\nx\n' >"$T/nofrom.txt"
expect_fail 2 'no From' p11 smime sign --in "$T/nofrom.txt"
expect_fail 2 'digest' p11 smime sign --digest md5 --in "$T/alice.txt"
expect_fail 2 'option --opaque does not apply' p11 smime verify --opaque --in "$T/s.eml"
expect_fail 2 'cannot open' p11 smime verify --in "$T/does-not-exist"
expect_fail 2 'unknown command' p11 smime frobnicate
expect_fail 1 'not a signed message' p11 smime verify --CAfile "$ROOT" \
    --in "$T/alice.txt"
expect_fail 2 'not found' p11 smime sign \
    --key nobody@bigcorp.example --in "$T/alice.txt"
p11 smime sign --help | grep -q -- '--opaque' || fail "sign --help"
for s in verify encrypt decrypt show; do
	p11 smime $s --help >/dev/null || fail "$s --help"
done
pass "usage errors and --help"
