#!/bin/sh
# SPDX-License-Identifier: ISC
# A tampered or untrustworthy signed message fails p11 smime verify with
# exit 1 and the right reason: changed body, changed signature, a swapped
# certificate (same key, other identity), a From: that is not the
# signer's, an expired certificate, SHA-1, an untrusted root, and a
# certificate without S/MIME signing usage. The good message passes, so
# each failure is the check's doing.
. "$(dirname "$0")/lib.sh"
use_shared_agent
ROOT=$CERTS/root.pem
E=$P11AGENT_SRC/tests/integ/smime-edit.py
FIX=$P11AGENT_SRC/softhsm-fixtures

cat >"$T/m.txt" <<'MSG'
From: Alice Example <alice@bigcorp.example>
To: Bob Example <bob@bigcorp.example>
Subject: pay invoice 4711
Date: Mon, 1 Jan 2026 10:00:00 +0000

Please pay 100 EUR to account 1234.
MSG
p11 smime sign --certs "$CERTS" --in "$T/m.txt" --out "$T/s.eml"
p11 smime verify --CAfile "$ROOT" --in "$T/s.eml" 2>/dev/null ||
    fail "the untampered message does not verify"
verify() { p11 smime verify --CAfile "$ROOT" --certs "$CERTS" "$@"; }

# Body changed after signing.
sed 's/100 EUR/900 EUR/' "$T/s.eml" >"$T/t1.eml"
expect_fail 1 'changed after it was signed' verify --in "$T/t1.eml" \
    --out "$T/c1"
[ ! -e "$T/c1" ] || fail "content written for a bad signature"
pass "tampered body"

# Signature value changed (one bit near the end of the DER).
python3 "$E" split "$T/s.eml" "$T/content" "$T/sig.der"
python3 "$E" flip "$T/sig.der" "$T/sig2.der" 20
python3 "$E" setsig "$T/s.eml" "$T/sig2.der" "$T/t2.eml"
expect_fail 1 'bad signature' verify --in "$T/t2.eml"
pass "tampered signature"

# Opaque: a changed byte inside the signed-data.
p11 smime sign --opaque --certs "$CERTS" --in "$T/m.txt" --out "$T/o.eml"
python3 "$E" p7m "$T/o.eml" "$T/o.der"
python3 "$E" flip "$T/o.der" "$T/o2.der" 300
python3 "$E" setsig "$T/o.eml" "$T/o2.der" "$T/t3.eml"
expect_fail 1 'bad signature|changed|damaged|ESS' verify --in "$T/t3.eml"
pass "tampered opaque signature"

# Truncated base64 signature.
head -c 3000 "$T/s.eml" >"$T/t4.eml"
expect_fail 1 'malformed|damaged|truncated|bad signature|not' \
    verify --in "$T/t4.eml"
pass "truncated message"

# From: is not the signer.
sed 's/^From: .*/From: Bob Example <bob@bigcorp.example>/' "$T/s.eml" \
    >"$T/t5.eml"
expect_fail 1 'certificate is for alice@bigcorp.example, but the message is From: bob@bigcorp.example' \
    verify --in "$T/t5.eml"
sed 's/^From: .*/From: Alice Example <alice@BIGCORP.example>/' "$T/s.eml" \
    >"$T/ok.eml"
verify --in "$T/ok.eml" 2>/dev/null || fail "domain compared case-sensitively"
pass "wrong From:"

# Swapped certificate: a second certificate for alice's key with another
# address, same DER length, put in place of the real one (serial too).
# The signature still verifies with the key; ESS signingCertificateV2
# (and the address check) must catch it.
pub=$(pubkey alice)
i=0
while :; do
	i=$((i + 1))
	[ $i -le 20 ] || fail "could not issue a same-length certificate"
	bash "$FIX/issue-cert.sh" "$FIXDIR" alice "$pub" --email \
	    "xlice@bigcorp.example" --cn "Alice Example" \
	    --out "$T/swap.pem" >/dev/null 2>"$T/issue.err" ||
	    { cat "$T/issue.err" >&2; fail "issue-cert.sh"; }
	python3 "$E" swapcert "$T/sig.der" "$CERTS/alice@bigcorp.example.pem" \
	    "$T/swap.pem" "$T/swapped.der" 2>/dev/null && break
done
python3 "$E" setsig "$T/s.eml" "$T/swapped.der" "$T/t6.eml"
expect_fail 1 'ESS signingCertificate|replaced' verify --in "$T/t6.eml"
pass "swapped certificate"

# Signing with a certificate that names another address.
bash "$FIX/issue-cert.sh" "$FIXDIR" mallory "$pub" --cn "Mallory" \
    --out "$T/mallory.pem" >/dev/null
p11 smime sign --key alice --cert "$T/mallory.pem" --certs "$CERTS" \
    --in "$T/m.txt" --out "$T/t7.eml"
expect_fail 1 'certificate is for mallory@bigcorp.example' \
    verify --in "$T/t7.eml"
pass "certificate for another address"

# Key usage: a certificate for key encipherment only.
bash "$FIX/issue-cert.sh" "$FIXDIR" alice "$pub" \
    --ku "critical, keyEncipherment" --out "$T/ku.pem" >/dev/null
p11 smime sign --key alice --cert "$T/ku.pem" --certs "$CERTS" \
    --in "$T/m.txt" --out "$T/t8.eml"
expect_fail 1 'not for S/MIME signing' verify --in "$T/t8.eml"
pass "wrong key usage"

# Expired: p11 refuses to sign with it; a message OpenSSL signed with a
# software key and an expired certificate does not verify.
bash "$FIX/issue-cert.sh" "$FIXDIR" alice "$pub" --expired --days 30 \
    --out "$T/expired.pem" >/dev/null
expect_fail 1 'expired' p11 smime sign --key alice --cert "$T/expired.pem" \
    --in "$T/m.txt"
soft=tamper-$$
bash "$FIX/mksoftcert.sh" "$FIXDIR" $soft rsa --force --expired --days 30 \
    --email alice@bigcorp.example --out "$T/soft-expired.pem" >/dev/null
# openssl signs the MIME entity; the RFC 5322 fields go in front.
printf 'Content-Type: text/plain\n\nPlease pay 100 EUR.\n' >"$T/entity"
printf 'From: alice@bigcorp.example\nTo: bob@bigcorp.example\nSubject: x\n' \
    >"$T/hdrs"
osign() {	# osign CERT OUT [openssl options]
	c=$1 o=$2
	shift 2
	openssl cms -sign -signer "$c" -inkey "$FIXDIR/soft/$soft.key" \
	    -certfile "$CERTS/intermediate.pem" -in "$T/entity" "$@" \
	    -out "$T/osig" 2>/dev/null || fail "openssl cms -sign $*"
	cat "$T/hdrs" "$T/osig" >"$o"
}
osign "$T/soft-expired.pem" "$T/t9.eml"
expect_fail 1 'expired on' verify --in "$T/t9.eml"
pass "expired certificate"

# SHA-1: refused, unless --allow-sha1.
bash "$FIX/mksoftcert.sh" "$FIXDIR" $soft rsa --force \
    --email alice@bigcorp.example --out "$T/soft.pem" >/dev/null
osign "$T/soft.pem" "$T/t10.eml" -md sha1
osign "$T/soft.pem" "$T/t11.eml"
verify --in "$T/t11.eml" 2>/dev/null ||
    fail "the same message with SHA-256 does not verify"
expect_fail 1 'SHA1.*refused.*--allow-sha1' verify --in "$T/t10.eml"
verify --allow-sha1 --in "$T/t10.eml" 2>/dev/null ||
    fail "--allow-sha1 does not accept SHA-1"
pass "SHA-1 refused by default"

# Untrusted: another root, or the system store, does not vouch for it.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other.key" \
    -subj "/CN=Other Root" -days 2 -out "$T/other-root.pem" 2>/dev/null
expect_fail 1 'untrusted' p11 smime verify --CAfile "$T/other-root.pem" \
    --in "$T/s.eml"
expect_fail 1 'untrusted' p11 smime verify --in "$T/s.eml"
pass "untrusted root"
rm -f "$FIXDIR/soft/$soft.key" "$FIXDIR/soft/$soft.pub.pem" \
    "$FIXDIR/soft/$soft.pem"
