#!/bin/sh
# SPDX-License-Identifier: ISC
# OpenSSL <-> p11, both directions. What p11 signs with agent keys (RSA,
# EC; detached, opaque; every digest) verifies with `openssl smime` and
# `openssl cms`; what p11 encrypts (every cipher, OAEP, EC key agreement)
# decrypts with `openssl cms -decrypt` (and `openssl smime` where PKCS#7
# can: RSA and CBC only); what OpenSSL signs and encrypts to agent keys
# verifies and decrypts with p11.
. "$P11AGENT_SRC/tests/interop/lib.sh"
need_prog openssl python3

softuser olga rsa
softuser pete ec

# 1. p11 signs, OpenSSL verifies.
for who in alice carol; do
	message "$who@bigcorp.example" "olga@bigcorp.example" >"$T/m.txt"
	for d in sha256 sha512; do
		for opt in "" --opaque; do
			# shellcheck disable=SC2086
			p11 smime sign --certs "$W" --digest $d $opt \
			    --in "$T/m.txt" --out "$T/s.eml"
			openssl smime -verify -CAfile "$ROOT" -in "$T/s.eml" \
			    -out "$T/c1" 2>"$T/err" ||
			    { cat "$T/err" >&2; fail "openssl smime -verify: $who $d $opt"; }
			openssl cms -verify -CAfile "$ROOT" -in "$T/s.eml" \
			    -purpose smimesign -out "$T/c2" 2>"$T/err" ||
			    { cat "$T/err" >&2; fail "openssl cms -verify: $who $d $opt"; }
			grep -q 'interop body line 1' "$T/c2" ||
			    fail "openssl cms: content"
		done
	done
	p11 smime sign --certs "$W" --in "$T/m.txt" --out "$T/s.eml"
	sed 's/line 1/line X/' "$T/s.eml" >"$T/bad.eml"
	! openssl cms -verify -CAfile "$ROOT" -in "$T/bad.eml" -out /dev/null \
	    2>/dev/null || fail "openssl accepts a tampered message"
	pass "p11 signs ($who) -> openssl smime/cms -verify"
done

# 2. p11 encrypts, OpenSSL decrypts (software recipients).
message "alice@bigcorp.example" "olga@bigcorp.example, pete@bigcorp.example" \
    >"$T/m.txt"
for c in aes256-cbc aes128-cbc aes256-gcm aes128-gcm; do
	for oaep in "" --oaep; do
		for sign in "" --sign; do
			what="$c${oaep:+ $oaep}${sign:+ $sign}"
			# shellcheck disable=SC2086
			p11 smime encrypt --certs "$W" --cipher $c $oaep $sign \
			    --in "$T/m.txt" --out "$T/e.eml" 2>/dev/null ||
			    fail "p11 encrypt $what"
			for u in olga pete; do
				openssl cms -decrypt -inkey "$T/$u.key" \
				    -recip "$T/$u.pem" -in "$T/e.eml" \
				    -out "$T/d" 2>"$T/err" ||
				    { cat "$T/err" >&2; fail "openssl cms -decrypt ($u): $what"; }
				if [ -n "$sign" ]; then
					# The plaintext is the signed entity.
					headers alice@bigcorp.example x@y >"$T/h"
					cat "$T/h" "$T/d" >"$T/inner.eml"
					openssl cms -verify -CAfile "$ROOT" \
					    -in "$T/inner.eml" -out "$T/d2" \
					    2>/dev/null ||
					    fail "openssl: inner signature: $what"
					p11 smime verify --CAfile "$ROOT" \
					    --in "$T/inner.eml" 2>/dev/null ||
					    fail "p11: inner signature: $what"
					mv "$T/d2" "$T/d"
				fi
				grep -q '=C3=BC' "$T/d" ||
				    fail "openssl ($u): wrong plaintext: $what"
			done
		done
	done
	pass "p11 encrypts ($c) -> openssl cms -decrypt (RSA v1.5, OAEP, ECDH)"
done
# openssl smime (PKCS#7) knows RSA key transport and CBC only.
message "alice@bigcorp.example" "olga@bigcorp.example" >"$T/m.txt"
p11 smime encrypt --certs "$W" --in "$T/m.txt" --out "$T/e.eml" 2>/dev/null
openssl smime -decrypt -inkey "$T/olga.key" -recip "$T/olga.pem" \
    -in "$T/e.eml" -out "$T/d" || fail "openssl smime -decrypt"
grep -q '=C3=BC' "$T/d" || fail "openssl smime: wrong plaintext"
pass "p11 encrypts -> openssl smime -decrypt"

# 3. OpenSSL signs, p11 verifies.
entity >"$T/entity"
headers olga@bigcorp.example alice@bigcorp.example >"$T/h-olga"
headers pete@bigcorp.example alice@bigcorp.example >"$T/h-pete"
for u in olga pete; do
	for how in "smime -sign" "smime -sign -nodetach" "cms -sign" \
	    "cms -sign -nodetach" "cms -sign -md sha512" "smime -sign -binary"; do
		# shellcheck disable=SC2086
		openssl $how -signer "$T/$u.pem" -inkey "$T/$u.key" \
		    -certfile "$CERTS/intermediate.pem" -in "$T/entity" \
		    -out "$T/o" 2>"$T/err" ||
		    { cat "$T/err" >&2; fail "openssl $how"; }
		cat "$T/h-$u" "$T/o" >"$T/s.eml"
		p11 smime verify --CAfile "$ROOT" --in "$T/s.eml" \
		    --out "$T/c" 2>"$T/err" ||
		    { cat "$T/err" >&2; fail "p11 verify of openssl $how ($u)"; }
		grep -q "^good signature from $u Soft <$u@bigcorp.example>" \
		    "$T/err" || fail "verdict line for openssl $how"
		grep -q 'interop body from a peer' "$T/c" ||
		    fail "content of openssl $how"
	done
	pass "openssl signs ($u) -> p11 verify"
done
# openssl's text mode signs an LF file in canonical form.
printf 'Content-Type: text/plain\n\nunix line endings\nsecond\n' >"$T/lf"
openssl smime -sign -signer "$T/olga.pem" -inkey "$T/olga.key" \
    -certfile "$CERTS/intermediate.pem" -in "$T/lf" -out "$T/o"
cat "$T/h-olga" "$T/o" | tr -d '\r' >"$T/s.eml"
p11 smime verify --CAfile "$ROOT" --in "$T/s.eml" 2>/dev/null ||
    fail "p11 verify of an LF-only openssl message"
pass "openssl text mode, LF transport"

# 4. OpenSSL encrypts to agent keys, p11 decrypts.
headers olga@bigcorp.example "alice@bigcorp.example, carol@bigcorp.example" \
    >"$T/h"
for how in "cms -encrypt -aes256" "cms -encrypt -aes128" \
    "cms -encrypt -aes-256-gcm" "smime -encrypt -aes256" \
    "cms -encrypt -aes256 -keyopt rsa_padding_mode:oaep"; do
	case $how in
	*oaep*) rcpts="$CERTS/alice@bigcorp.example.pem" ;;
	smime*) rcpts="$CERTS/alice@bigcorp.example.pem $CERTS/bob@bigcorp.example.pem" ;;
	*) rcpts="$CERTS/alice@bigcorp.example.pem $CERTS/carol@bigcorp.example.pem" ;;
	esac
	# -recip before -keyopt applies the option to that recipient;
	# certificate operands come after the options.
	case $how in
	*keyopt*) args="cms -encrypt -aes256 -in $T/entity -out $T/o -recip $rcpts -keyopt rsa_padding_mode:oaep" ;;
	*) args="$how -in $T/entity -out $T/o $rcpts" ;;
	esac
	# shellcheck disable=SC2086
	openssl $args 2>"$T/err" ||
	    { cat "$T/err" >&2; fail "openssl $how"; }
	cat "$T/h" "$T/o" >"$T/e.eml"
	for k in alice carol; do
		case "$rcpts" in *$k@*) ;; *) continue ;; esac
		p11 smime decrypt --key $k --in "$T/e.eml" --out "$T/d" \
		    2>"$T/err" || { cat "$T/err" >&2; fail "p11 decrypt ($k) of openssl $how"; }
		grep -q 'interop body from a peer' "$T/d" ||
		    fail "plaintext of openssl $how"
	done
	pass "openssl $how -> p11 decrypt"
done
# Signed by OpenSSL, then encrypted by OpenSSL: both layers.
openssl cms -sign -signer "$T/olga.pem" -inkey "$T/olga.key" \
    -certfile "$CERTS/intermediate.pem" -in "$T/entity" -out "$T/o1"
openssl cms -encrypt -aes-256-gcm -in "$T/o1" -out "$T/o2" \
    "$CERTS/bob@bigcorp.example.pem"
cat "$T/h-olga" "$T/o2" >"$T/e.eml"
p11 smime decrypt --key bob --CAfile "$ROOT" --in "$T/e.eml" --out "$T/d" \
    2>"$T/err" || { cat "$T/err" >&2; fail "p11 decrypt of openssl sign+encrypt"; }
grep -q '^good signature from olga Soft' "$T/err" ||
    fail "inner layer not reported"
pass "openssl sign+encrypt -> p11 decrypt reports both layers"
