#!/bin/sh
# SPDX-License-Identifier: ISC
# NSS (Thunderbird's CMS engine, as cmsutil) <-> p11, both directions.
# What p11 signs with agent keys (RSA, EC; detached and opaque) decodes
# and verifies with `cmsutil -D`; what p11 encrypts (AES-CBC, RSA PKCS#1
# v1.5) decrypts with `cmsutil -D`; what cmsutil signs (RSA, EC; opaque
# and detached) and encrypts to an agent key verifies and decrypts with
# p11. NSS 3.87 (Debian 12) limits: enveloped data for RSA v1.5 and CBC
# only (no OAEP, no AES-GCM AuthEnvelopedData, no ECDH) - not tested.
. "$P11AGENT_SRC/tests/interop/lib.sh"
need_prog cmsutil certutil pk12util openssl python3

softuser olga rsa
softuser pete ec

# A throwaway NSS database: empty password, the fixture root trusted for
# S/MIME, the software users' keys, alice's certificate.
DB=sql:$T/nssdb
mkdir "$T/nssdb"
certutil -N -d "$DB" --empty-password || fail "certutil -N"
certutil -A -d "$DB" -n root -t "CT,C,C" -i "$ROOT"
certutil -A -d "$DB" -n intermediate -t ",," -i "$CERTS/intermediate.pem"
certutil -A -d "$DB" -n alice -t ",," -i "$CERTS/alice@bigcorp.example.pem"
for u in olga pete; do
	openssl pkcs12 -export -inkey "$T/$u.key" -in "$T/$u.pem" -name $u \
	    -passout pass:pw -out "$T/$u.p12"
	pk12util -i "$T/$u.p12" -d "$DB" -W pw -K '' >/dev/null ||
	    fail "pk12util -i $u"
done

# 1. p11 signs, cmsutil verifies.
for who in alice bob carol dave; do
	message "$who@bigcorp.example" "olga@bigcorp.example" >"$T/m.txt"
	p11 smime sign --certs "$W" --in "$T/m.txt" --out "$T/s.eml"
	python3 "$E" split "$T/s.eml" "$T/content" "$T/sig.der"
	cmsutil -D -d "$DB" -i "$T/sig.der" -c "$T/content" -o /dev/null \
	    2>"$T/err" || { cat "$T/err" >&2; fail "cmsutil -D detached: $who"; }
	sed 's/line 1/line X/' "$T/content" >"$T/bad"
	! cmsutil -D -d "$DB" -i "$T/sig.der" -c "$T/bad" -o /dev/null \
	    2>/dev/null || fail "cmsutil accepts tampered content"
	p11 smime sign --opaque --certs "$W" --in "$T/m.txt" --out "$T/o.eml"
	python3 "$E" p7m "$T/o.eml" "$T/o.der"
	cmsutil -D -d "$DB" -i "$T/o.der" -o "$T/oc" 2>"$T/err" ||
	    { cat "$T/err" >&2; fail "cmsutil -D opaque: $who"; }
	grep -q 'interop body line 1' "$T/oc" || fail "cmsutil: opaque content"
	pass "p11 signs ($who) -> cmsutil -D, detached and opaque"
done

# 2. p11 encrypts, cmsutil decrypts (olga's key; RSA-only recipients).
message "alice@bigcorp.example" "olga@bigcorp.example, bob@bigcorp.example" \
    >"$T/m.txt"
for c in aes256-cbc aes128-cbc; do
	for sign in "" --sign; do
		# shellcheck disable=SC2086
		p11 smime encrypt --certs "$W" --cipher $c $sign --in "$T/m.txt" \
		    --out "$T/e.eml" 2>/dev/null || fail "p11 encrypt $c $sign"
		python3 "$E" p7m "$T/e.eml" "$T/e.der"
		cmsutil -D -d "$DB" -i "$T/e.der" -o "$T/d" 2>"$T/err" ||
		    { cat "$T/err" >&2; fail "cmsutil -D: $c $sign"; }
		if [ -n "$sign" ]; then
			# The plaintext is the signed entity: cmsutil checks it
			# too, detached, as Thunderbird does.
			headers alice@bigcorp.example x@y >"$T/h"
			cat "$T/h" "$T/d" >"$T/inner.eml"
			python3 "$E" split "$T/inner.eml" "$T/content" "$T/sig.der"
			cmsutil -D -d "$DB" -i "$T/sig.der" -c "$T/content" \
			    -o /dev/null 2>/dev/null ||
			    fail "cmsutil: inner signature: $c"
		else
			grep -q '=C3=BC' "$T/d" || fail "cmsutil: plaintext: $c"
		fi
	done
	pass "p11 encrypts ($c) -> cmsutil -D"
done

# 3. cmsutil signs, p11 verifies.
entity >"$T/entity"
for u in olga pete; do
	headers $u@bigcorp.example alice@bigcorp.example >"$T/h"
	cmsutil -S -N $u -d "$DB" -G -P -i "$T/entity" -o "$T/n.der" ||
	    fail "cmsutil -S ($u)"
	python3 "$E" wrap opaque "$T/h" "$T/n.der" "$T/n.eml"
	p11 smime verify --CAfile "$ROOT" --in "$T/n.eml" --out "$T/c" \
	    2>"$T/err" || { cat "$T/err" >&2; fail "p11 verify of cmsutil -S ($u)"; }
	grep -q "^good signature from $u Soft <$u@bigcorp.example>" "$T/err" ||
	    fail "verdict for cmsutil ($u)"
	grep -q 'interop body from a peer' "$T/c" || fail "cmsutil content"
	cmsutil -S -T -N $u -d "$DB" -G -P -i "$T/entity" -o "$T/nd.der" ||
	    fail "cmsutil -S -T ($u)"
	python3 "$E" wrap signed "$T/h" "$T/entity,$T/nd.der" "$T/nd.eml"
	p11 smime verify --CAfile "$ROOT" --in "$T/nd.eml" 2>"$T/err" ||
	    { cat "$T/err" >&2; fail "p11 verify of cmsutil -S -T ($u)"; }
	pass "cmsutil signs ($u; opaque, detached) -> p11 verify"
done

# 4. cmsutil encrypts to alice's certificate, p11 decrypts with the agent.
headers olga@bigcorp.example alice@bigcorp.example >"$T/h"
cmsutil -E -r alice@bigcorp.example -d "$DB" -i "$T/entity" \
    -o "$T/ne.der" || fail "cmsutil -E"
python3 "$E" wrap enveloped "$T/h" "$T/ne.der" "$T/ne.eml"
p11 smime decrypt --in "$T/ne.eml" --out "$T/d" 2>"$T/err" ||
    { cat "$T/err" >&2; fail "p11 decrypt of cmsutil -E"; }
grep -q 'interop body from a peer' "$T/d" || fail "cmsutil -E: plaintext"
pass "cmsutil encrypts -> p11 decrypt (agent key)"
