#!/usr/bin/env bash
# Check a fixture built by mktoken.sh or mktoken-multi.sh: objects on the
# token(s), certificate chains and extensions, and that every certificate's
# key is the token key with that CKA_ID (sign/verify, RSA decrypt, ECDH).
# Does not change the token.
#
# usage: check.sh DIR     (exit 0: all good; 1: a check failed; 77: skipped)
set -eu
set -o pipefail

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -eq 1 ] || { echo "usage: $p11f_prog DIR" >&2; exit 2; }
p11f_require_tools softhsm2-util pkcs11-tool openssl
[ -f "$1/env" ] || p11f_die "$1 has no env file: not a fixture"
dir=$(p11f_abspath "$1")
unset P11AGENT_TEST_TOKEN2_LABEL
# shellcheck source=/dev/null
. "$dir/env"
P11F_MODULE=$P11AGENT_TEST_MODULE
P11F_PIN=$(cat "$P11AGENT_TEST_PINFILE")
P11F_PIN=${P11F_PIN%$'\n'}
certs=$P11AGENT_TEST_CERTS
p11f_mktemp
w=$P11F_TMP
fails=0

ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fails=$((fails + 1)); }

# token-label:name:id:kind
: "${P11AGENT_TEST_TOKEN_LABEL:?not set by $dir/env}"
users="$P11AGENT_TEST_TOKEN_LABEL:alice:01:rsa $P11AGENT_TEST_TOKEN_LABEL:bob:02:rsa"
users="$users $P11AGENT_TEST_TOKEN_LABEL:carol:03:ec $P11AGENT_TEST_TOKEN_LABEL:dave:04:ec"
tokens=$P11AGENT_TEST_TOKEN_LABEL
if [ -n "${P11AGENT_TEST_TOKEN2_LABEL:-}" ]; then
	users="$users $P11AGENT_TEST_TOKEN2_LABEL:erin:05:rsa"
	tokens="$tokens $P11AGENT_TEST_TOKEN2_LABEL"
fi

# Each token present exactly once (by exact label).
for t in $tokens; do
	p11f_resolve_slot "$t"
	ok "token $t present (slot ${P11F_SLOT[$t]})"
done

# CA certificates.
for c in root intermediate; do
	text=$(openssl x509 -in "$certs/$c.pem" -noout -text)
	case $text in
	*"CA:TRUE"*"Certificate Sign, CRL Sign"* | *"Certificate Sign, CRL Sign"*"CA:TRUE"*) ok "$c is a CA" ;;
	*) bad "$c lacks CA:TRUE or keyCertSign,cRLSign" ;;
	esac
done
if [ "$(cat "$certs/intermediate.pem" "$certs/root.pem")" = "$(cat "$certs/chain.pem")" ]; then
	ok "chain.pem is intermediate + root"
else
	bad "chain.pem is not intermediate + root"
fi

for u in $users; do
	IFS=: read -r token name id kind <<<"$u"
	addr=$name@$P11F_DOMAIN
	cert=$certs/$addr.pem
	if [ ! -f "$cert" ]; then bad "$cert missing"; continue; fi
	if openssl verify -CAfile "$certs/root.pem" -untrusted "$certs/intermediate.pem" \
		-purpose smimesign "$cert" >/dev/null 2>&1; then
		ok "$addr: chain verifies (smimesign)"
	else
		bad "$addr: openssl verify failed"
	fi

	text=$(openssl x509 -in "$cert" -noout -text)
	sub=$(openssl x509 -in "$cert" -noout -subject -nameopt RFC2253)
	want_ku="Digital Signature, Non Repudiation, Key Encipherment"
	if [ "$kind" = ec ]; then want_ku="Digital Signature, Non Repudiation, Key Agreement"; fi
	for need in "email:$addr" "E-mail Protection" "$want_ku" "CA:FALSE" \
		"X509v3 Key Usage: critical" "X509v3 Subject Key Identifier" \
		"X509v3 Authority Key Identifier"; do
		case $text in
		*"$need"*) ;;
		*) bad "$addr: certificate lacks '$need'" ;;
		esac
	done
	case $sub in
	*"emailAddress=$addr,CN=${name^} Example,O=BigCorp") ok "$addr: subject $sub" ;;
	*) bad "$addr: unexpected subject $sub" ;;
	esac
	aki=$(printf '%s\n' "$text" | grep -A1 'Authority Key Identifier' | tail -1 | tr -d ' ')
	ski=$(openssl x509 -in "$certs/intermediate.pem" -noout -text | grep -A1 'Subject Key Identifier' | tail -1 | tr -d ' ')
	[ "$aki" = "$ski" ] || [ "$aki" = "keyid:$ski" ] || bad "$addr: AKI $aki is not the intermediate's SKI $ski"
	nb=$(date -u -d "$(openssl x509 -in "$cert" -noout -startdate | cut -d= -f2)" +%s)
	na=$(date -u -d "$(openssl x509 -in "$cert" -noout -enddate | cut -d= -f2)" +%s)
	now=$(date -u +%s)
	if [ $((now - nb)) -ge 80000 ] && [ $(((na - now) / 86400)) -ge 800 ]; then
		ok "$addr: valid from $(((now - nb) / 3600)) h ago for $(((na - now) / 86400)) more days"
	else
		bad "$addr: validity is not about now-1d .. now+825d"
	fi

	# Issued by `openssl ca`: in the intermediate CA's database, valid.
	serial=$(openssl x509 -in "$cert" -noout -serial | sed 's/^serial=//')
	if awk -F'\t' -v s="$serial" '$1 == "V" && $4 == s { f = 1 } END { exit !f }' \
		"$dir/ca/db/intermediate.index" 2>/dev/null; then
		ok "$addr: serial $serial valid in the CA database"
	else
		bad "$addr: serial $serial not in ca/db/intermediate.index as valid"
	fi

	# The certificate on the token is the same as the file.
	if p11f_on "$token" --read-object --type cert --id "$id" \
		-o "$w/tok.der" >/dev/null 2>&1 &&
		openssl x509 -in "$cert" -outform DER | cmp -s - "$w/tok.der"; then
		ok "$addr: certificate on token $token with id $id"
	else
		bad "$addr: certificate with id $id on token $token missing or different"
	fi

	# The certificate's key is the token key: sign on the token, verify
	# with the certificate.
	openssl x509 -in "$cert" -noout -pubkey >"$w/pub.pem"
	printf 'p11agent fixture check %s\n' "$addr" >"$w/data"
	# SoftHSM 2.6 has CKM_ECDSA only (no ECDSA-SHA256): hash here for EC.
	if [ "$kind" = rsa ]; then
		mech=(-m SHA256-RSA-PKCS)
		cp "$w/data" "$w/tbs"
	else
		mech=(-m ECDSA --signature-format openssl)
		openssl dgst -sha256 -binary -out "$w/tbs" "$w/data"
	fi
	if p11f_on "$token" --login --pin "$P11F_PIN" --sign "${mech[@]}" \
		--id "$id" -i "$w/tbs" -o "$w/sig" >/dev/null 2>&1 &&
		openssl dgst -sha256 -verify "$w/pub.pem" -signature "$w/sig" "$w/data" >/dev/null; then
		ok "$addr: token signature verifies with the certificate"
	else
		bad "$addr: token signature does not verify with the certificate"
	fi
	if [ "$kind" = rsa ]; then
		# Encrypt to the certificate, decrypt on the token.
		openssl pkeyutl -encrypt -pubin -inkey "$w/pub.pem" -in "$w/data" -out "$w/ct"
		if p11f_on "$token" --login --pin "$P11F_PIN" --decrypt \
			-m RSA-PKCS --id "$id" -i "$w/ct" -o "$w/pt" >/dev/null 2>&1 &&
			cmp -s "$w/pt" "$w/data"; then
			ok "$addr: token decrypts what was encrypted to the certificate"
		else
			bad "$addr: token RSA decryption failed"
		fi
	else
		# ECDH between a software key and the token key agrees.
		curve=$(openssl pkey -pubin -in "$w/pub.pem" -noout -text | sed -n 's/^ASN1 OID: //p')
		openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$curve" -out "$w/peer.key" 2>/dev/null
		openssl pkey -in "$w/peer.key" -pubout -outform DER -out "$w/peer.der"
		openssl pkeyutl -derive -inkey "$w/peer.key" -peerkey "$w/pub.pem" -out "$w/z1"
		if p11f_on "$token" --login --pin "$P11F_PIN" --derive \
			-m ECDH1-DERIVE --id "$id" -i "$w/peer.der" -o "$w/z2" >/dev/null 2>&1 &&
			cmp -s "$w/z1" "$w/z2"; then
			ok "$addr: token ECDH agrees with the certificate's key"
		else
			bad "$addr: token ECDH derive failed or disagrees"
		fi
	fi
done

# Private keys: sensitive, never extractable, right usages; hidden without login.
for t in $tokens; do
	specs=''
	for u in $users; do
		IFS=: read -r token name id kind <<<"$u"
		if [ "$token" = "$t" ]; then specs="$specs $id:$kind"; fi
	done
	# shellcheck disable=SC2086
	if (p11f_check_keys "$t" $specs) >/dev/null 2>&1; then
		ok "token $t: private keys sensitive, never extractable, usages right"
	else
		(p11f_check_keys "$t" $specs) 2>&1 | sed 's/^/FAIL /' || true
		fails=$((fails + 1))
	fi
	want=$(for sp in $specs; do echo "${sp%%:*}"; done | sort | tr '\n' ' ')
	have=$(p11f_on "$t" --login --pin "$P11F_PIN" --list-objects --type privkey 2>/dev/null |
		awk '$1 == "ID:" { print $2 }' | sort | tr '\n' ' ')
	if [ "$want" = "$have" ]; then
		ok "token $t holds exactly the private keys $want"
	else
		bad "token $t holds private keys '$have', expected '$want'"
	fi
	if p11f_on "$t" --list-objects --type privkey 2>/dev/null | grep -q 'Private Key Object'; then
		bad "token $t: private keys visible without login"
	else
		ok "token $t: private keys are private (hidden without login)"
	fi
done

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
