#!/bin/sh
# SPDX-License-Identifier: ISC
# GnuPG's gpgsm <-> p11, both directions. What p11 signs with agent keys
# (RSA, EC; detached and opaque) verifies with `gpgsm --verify`; what
# p11 encrypts (AES-CBC EnvelopedData, RSA PKCS#1 v1.5) decrypts with
# `gpgsm --decrypt`; what gpgsm signs (detached and opaque) and encrypts
# to an agent key verifies and decrypts with p11.
# gpgsm 2.2 limits: no AuthEnvelopedData (AES-GCM), no RSAES-OAEP, and
# no encryption to the fixture's EC certificates (it wants
# keyEncipherment) - those are not tested here.
. "$P11AGENT_SRC/tests/interop/lib.sh"
need_prog gpgsm gpg-agent openssl python3

softuser olga rsa

# A throwaway GnuPG home: the fixture root trusted, no CRLs, no network.
GNUPGHOME=$T/gnupg
export GNUPGHOME
mkdir -m 700 "$GNUPGHOME"
printf 'disable-crl-checks\ndisable-policy-checks\ndisable-dirmngr\n' \
    >"$GNUPGHOME/gpgsm.conf"
printf 'allow-loopback-pinentry\n' >"$GNUPGHOME/gpg-agent.conf"
fpr=$(openssl x509 -in "$ROOT" -noout -fingerprint -sha1 | cut -d= -f2)
printf '%s S relax\n' "$fpr" >"$GNUPGHOME/trustlist.txt"
stop_gpg_agent() { gpgconf --kill gpg-agent 2>/dev/null || true; }
trap 'stop_gpg_agent; cleanup' EXIT
G="gpgsm --batch --status-fd 3"
$G --import "$ROOT" "$CERTS/intermediate.pem" 3>/dev/null 2>/dev/null ||
    fail "gpgsm --import of the CA certificates"
# olga's software key; gpgsm 2.2 reads PKCS#12 with 3DES PBE only.
openssl pkcs12 -export -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES \
    -macalg sha1 -inkey "$T/olga.key" -in "$T/olga.pem" -passout pass:pw \
    -out "$T/olga.p12"
echo pw | $G --pinentry-mode loopback --passphrase-fd 0 --import \
    "$T/olga.p12" 3>/dev/null 2>"$T/err" ||
    { cat "$T/err" >&2; fail "gpgsm --import of a PKCS#12 key"; }
$G --import "$CERTS/alice@bigcorp.example.pem" 3>/dev/null 2>/dev/null

# 1. p11 signs, gpgsm verifies.
for who in alice bob carol dave; do
	message "$who@bigcorp.example" "olga@bigcorp.example" >"$T/m.txt"
	p11 smime sign --certs "$W" --in "$T/m.txt" --out "$T/s.eml"
	python3 "$E" split "$T/s.eml" "$T/content" "$T/sig.der"
	$G --verify "$T/sig.der" "$T/content" 3>"$T/status" 2>"$T/err" ||
	    { cat "$T/err" >&2; fail "gpgsm --verify: $who"; }
	grep -q '^\[GNUPG:\] GOODSIG' "$T/status" &&
	    grep -q '^\[GNUPG:\] TRUST_FULLY' "$T/status" ||
	    { cat "$T/status" >&2; fail "gpgsm: no GOODSIG/TRUST_FULLY ($who)"; }
	p11 smime sign --opaque --certs "$W" --in "$T/m.txt" --out "$T/o.eml"
	python3 "$E" p7m "$T/o.eml" "$T/o.der"
	$G --verify --output "$T/oc" "$T/o.der" 3>"$T/status" 2>"$T/err" ||
	    { cat "$T/err" >&2; fail "gpgsm --verify opaque: $who"; }
	grep -q '^\[GNUPG:\] GOODSIG' "$T/status" ||
	    fail "gpgsm: opaque: no GOODSIG ($who)"
	grep -q 'interop body line 1' "$T/oc" || fail "gpgsm: opaque content"
	sed 's/line 1/line X/' "$T/content" >"$T/bad"
	! $G --verify "$T/sig.der" "$T/bad" 3>"$T/status" 2>/dev/null &&
	    ! grep -q '^\[GNUPG:\] GOODSIG' "$T/status" ||
	    fail "gpgsm accepts tampered content"
	pass "p11 signs ($who) -> gpgsm --verify, detached and opaque"
done

# 2. p11 encrypts, gpgsm decrypts (olga's software key).
message "alice@bigcorp.example" "olga@bigcorp.example" >"$T/m.txt"
for c in aes256-cbc aes128-cbc; do
	for oaep in ""; do
		for sign in "" --sign; do
			what="$c${oaep:+ $oaep}${sign:+ $sign}"
			# shellcheck disable=SC2086
			p11 smime encrypt --certs "$W" --cipher $c $oaep $sign \
			    --in "$T/m.txt" --out "$T/e.eml" 2>/dev/null ||
			    fail "p11 encrypt $what"
			python3 "$E" p7m "$T/e.eml" "$T/e.der"
			rm -f "$T/d"
			# gpgsm exits 2 after trying the recipients it has
			# no key for even when it decrypts: read its status.
			echo pw | $G --pinentry-mode loopback --passphrase-fd 0 \
			    --decrypt --output "$T/d" "$T/e.der" 3>"$T/status" \
			    2>"$T/err" || true
			grep -q '^\[GNUPG:\] DECRYPTION_OKAY' "$T/status" ||
			    { cat "$T/err" >&2; fail "gpgsm --decrypt: $what"; }
			if [ -n "$sign" ]; then
				grep -q 'multipart/signed' "$T/d" ||
				    fail "gpgsm: not the signed entity: $what"
			else
				grep -q '=C3=BC' "$T/d" ||
				    fail "gpgsm: wrong plaintext: $what"
			fi
		done
	done
	pass "p11 encrypts ($c, RSA v1.5) -> gpgsm --decrypt"
done

# 3. gpgsm signs, p11 verifies.
entity >"$T/entity"
headers olga@bigcorp.example alice@bigcorp.example >"$T/h"
echo pw | $G --pinentry-mode loopback --passphrase-fd 0 \
    -u olga@bigcorp.example --detach-sign --output "$T/gsig.der" \
    "$T/entity" 3>/dev/null 2>"$T/err" ||
    { cat "$T/err" >&2; fail "gpgsm --detach-sign"; }
python3 "$E" wrap signed "$T/h" "$T/entity,$T/gsig.der" "$T/gs.eml"
p11 smime verify --CAfile "$ROOT" --in "$T/gs.eml" 2>"$T/err" ||
    { cat "$T/err" >&2; fail "p11 verify of gpgsm --detach-sign"; }
grep -q '^good signature from olga Soft <olga@bigcorp.example>' "$T/err" ||
    fail "verdict for gpgsm signature"
echo pw | $G --pinentry-mode loopback --passphrase-fd 0 \
    -u olga@bigcorp.example --sign --output "$T/gop.der" "$T/entity" \
    3>/dev/null 2>/dev/null || fail "gpgsm --sign"
python3 "$E" wrap opaque "$T/h" "$T/gop.der" "$T/gop.eml"
p11 smime verify --CAfile "$ROOT" --in "$T/gop.eml" --out "$T/c" \
    2>/dev/null || fail "p11 verify of gpgsm --sign (opaque)"
grep -q 'interop body from a peer' "$T/c" || fail "gpgsm opaque content"
pass "gpgsm signs (detached, opaque) -> p11 verify"

# 4. gpgsm encrypts to alice's certificate, p11 decrypts with the agent.
$G -r alice@bigcorp.example --encrypt --output "$T/genc.der" "$T/entity" \
    3>/dev/null 2>"$T/err" || { cat "$T/err" >&2; fail "gpgsm --encrypt"; }
python3 "$E" wrap enveloped "$T/h" "$T/genc.der" "$T/genc.eml"
p11 smime decrypt --in "$T/genc.eml" --out "$T/d" 2>"$T/err" ||
    { cat "$T/err" >&2; fail "p11 decrypt of gpgsm --encrypt"; }
grep -q 'interop body from a peer' "$T/d" || fail "gpgsm: plaintext"
grep -q 'EFAIL' "$T/err" || fail "no EFAIL warning for unsigned CBC"
pass "gpgsm encrypts -> p11 decrypt (agent key)"
