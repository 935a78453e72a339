#!/bin/sh
# SPDX-License-Identifier: ISC
# p11 smime encrypt / decrypt through the agent: RSA key transport
# (PKCS#1 v1.5 and OAEP) and EC key agreement (P-256, P-384) for every
# cipher, with and without --sign; recipients from To/Cc/Bcc and the
# certificate directory, the sender always included; each recipient's
# agent key decrypts; both layers reported; the EFAIL warning; an error
# naming every address without a certificate; nothing written on failure.
. "$(dirname "$0")/lib.sh"
use_shared_agent
ROOT=$CERTS/root.pem
E=$P11AGENT_SRC/tests/integ/smime-edit.py

cat >"$T/m.txt" <<'MSG'
From: Alice Example <alice@bigcorp.example>
To: Bob Example <bob@bigcorp.example>
Cc: carol@bigcorp.example
Bcc: Dave <dave@bigcorp.example>
Subject: merger plans
Date: Mon, 1 Jan 2026 10:00:00 +0000

Secret: the merger is on.
MSG

for c in aes256-cbc aes128-cbc aes256-gcm aes128-gcm; do
	for oaep in "" --oaep; do
		for sign in "" --sign; do
			what="$c${oaep:+ $oaep}${sign:+ $sign}"
			# shellcheck disable=SC2086
			p11 smime encrypt --certs "$CERTS" --cipher $c $oaep \
			    $sign --in "$T/m.txt" --out "$T/e.eml" 2>"$T/e.err" ||
			    { cat "$T/e.err" >&2; fail "encrypt $what"; }
			grep -q 'Subject stays readable\|stays readable' "$T/e.err" ||
			    fail "$what: no Subject warning"
			! grep -q 'merger is on' "$T/e.eml" ||
			    fail "$what: plaintext in the output"
			! grep -qi '^Bcc:' "$T/e.eml" || fail "$what: Bcc kept"
			case $c in
			*gcm) st=authEnveloped-data ;;
			*) st=enveloped-data ;;
			esac
			grep -q "smime-type=$st" "$T/e.eml" ||
			    fail "$what: not $st"
			for who in alice bob carol dave; do
				p11 smime decrypt --key $who@bigcorp.example \
				    --CAfile "$ROOT" --in "$T/e.eml" \
				    --out "$T/d.eml" 2>"$T/d.err" ||
				    { cat "$T/d.err" >&2; fail "$what: $who cannot decrypt"; }
				grep -q 'merger is on' "$T/d.eml" ||
				    fail "$what: $who: wrong plaintext"
				grep -q "^decrypted for .* <$who@bigcorp.example>" \
				    "$T/d.err" || fail "$what: $who: no decrypt line"
				if [ -n "$sign" ]; then
					grep -q '^good signature from Alice Example <alice@bigcorp.example>' \
					    "$T/d.err" || { cat "$T/d.err" >&2; fail "$what: inner signature not reported"; }
					! grep -q EFAIL "$T/d.err" ||
					    fail "$what: EFAIL warning on signed content"
				elif [ "${c#*-}" = cbc ]; then
					grep -q EFAIL "$T/d.err" ||
					    fail "$what: no EFAIL warning"
				else
					! grep -q EFAIL "$T/d.err" ||
					    fail "$what: EFAIL warning with GCM"
				fi
			done
			# The decrypted, signed message verifies again.
			if [ -n "$sign" ]; then
				p11 smime verify --CAfile "$ROOT" \
				    --in "$T/d.eml" 2>/dev/null ||
				    fail "$what: decrypted message does not verify"
			fi
			pass "$what: every recipient decrypts"
		done
	done
done

# Without --key, the agent's key the message names is found.
p11 smime encrypt --certs "$CERTS" --in "$T/m.txt" --out "$T/e.eml" \
    2>/dev/null
p11 smime decrypt --in "$T/e.eml" >"$T/d.eml" 2>"$T/d.err" ||
    { cat "$T/d.err" >&2; fail "default key selection"; }
grep -q 'merger is on' "$T/d.eml" || fail "default key: wrong plaintext"
pass "decrypt finds the key among the agent's keys"

# Opaque signing inside the envelope.
p11 smime encrypt --certs "$CERTS" --sign --opaque --cipher aes256-gcm \
    --in "$T/m.txt" --out "$T/e.eml" 2>/dev/null
p11 smime decrypt --key bob --CAfile "$ROOT" --in "$T/e.eml" \
    --out "$T/d.eml" 2>"$T/d.err" || fail "opaque inside"
grep -q 'smime-type=signed-data' "$T/d.eml" && grep -q '^good signature' \
    "$T/d.err" || fail "opaque signed layer"
pass "encrypt --sign --opaque"

# --recipient FILE instead of the addresses; the sender is still added.
p11 smime encrypt --recipient "$CERTS/carol@bigcorp.example.pem" \
    --certs "$CERTS" --in "$T/m.txt" --out "$T/e.eml" 2>/dev/null
p11 smime decrypt --key carol --in "$T/e.eml" >/dev/null 2>&1 ||
    fail "--recipient carol cannot decrypt"
p11 smime decrypt --key alice --in "$T/e.eml" >/dev/null 2>&1 ||
    fail "--recipient: sender cannot decrypt"
expect_fail 1 'not encrypted for any of your keys' \
    p11 smime decrypt --key bob --in "$T/e.eml"
pass "--recipient, sender included, others refused"

# Every address without a certificate is named, and nothing is written.
sed 's/^Cc: .*/Cc: zed@elsewhere.example, Yan <yan@elsewhere.example>, carol@bigcorp.example/' \
    "$T/m.txt" >"$T/m2.txt"
expect_fail 1 'no certificate for zed@elsewhere.example, yan@elsewhere.example' \
    p11 smime encrypt --certs "$CERTS" --in "$T/m2.txt" --out "$T/none.eml"
[ ! -e "$T/none.eml" ] || fail "output written although encryption failed"
pass "missing certificates named"

# Damaged input: truncated base64, changed ciphertext (GCM), not for us.
p11 smime encrypt --certs "$CERTS" --cipher aes256-gcm --in "$T/m.txt" \
    --out "$T/e.eml" 2>/dev/null
head -c 900 "$T/e.eml" >"$T/trunc.eml"
printf 'QUJD\n' >>"$T/trunc.eml"
expect_fail 1 'damaged|truncated|not a CMS' \
    p11 smime decrypt --key bob --in "$T/trunc.eml" --out "$T/out1"
[ ! -e "$T/out1" ] || fail "output written for truncated input"
python3 "$E" p7m "$T/e.eml" "$T/e.der"
python3 "$E" flip "$T/e.der" "$T/e2.der" 40
python3 "$E" wrap authenveloped "$T/e.eml" "$T/e2.der" "$T/tampered.eml"
expect_fail 1 'decryption failed' \
    p11 smime decrypt --key bob --in "$T/tampered.eml" --out "$T/out2"
[ ! -e "$T/out2" ] || fail "output written for tampered ciphertext"
expect_fail 1 'not an encrypted' p11 smime decrypt --key bob \
    --in "$T/m.txt"
pass "damaged messages fail, nothing written"
