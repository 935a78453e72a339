#!/usr/bin/env bash
# Issue an S/MIME end-entity certificate from the test CA of a fixture
# directory built by mktoken.sh, for any public key. `openssl ca` certifies
# a request signed by the matching private key: a key on the fixture's
# token(s) or in DIR/soft is found by itself, another one is given by --key.
#
# usage: issue-cert.sh DIR NAME PUBKEY.pem [options]
#   NAME            "alice" (address alice@bigcorp.example, CN "Alice Example")
#                   or a full address "x@y.example"
#   --out FILE      where to write the PEM certificate
#                   (default: DIR/issued/ADDRESS-XXXXXX.pem, a new file)
#   --days N        validity length in days (default 825)
#   --expired       validity ends 1 day ago (and lasted --days)
#   --not-yet-valid validity starts in 1 day
#   --not-before WHEN, --not-after WHEN
#                   explicit ends; WHEN is anything `date -d` takes
#                   ("-3 days", "2030-01-01 00:00 UTC")
#   --rsa | --ec    key usage profile (default: from the key's algorithm):
#                   rsa = digitalSignature,nonRepudiation,keyEncipherment
#                   ec  = digitalSignature,nonRepudiation,keyAgreement
#   --email ADDR    address in subjectAltName and the DN (default from NAME)
#   --cn CN         subject common name (default "Name Example")
#   --ku LIST       keyUsage value instead of the profile's (openssl syntax,
#                   e.g. "critical, digitalSignature")
#   --eku LIST      extendedKeyUsage instead of emailProtection
#   --key KEY       PUBKEY.pem's private key, which signs the request: a key
#                   file (unencrypted) or a pkcs11: URI of a key on DIR's
#                   token (PIN from DIR/pin); default: looked up on DIR's
#                   tokens and in DIR/soft. With none (a bare public key)
#                   the certificate starts now (OpenSSL 3.0 cannot say
#                   otherwise then): --expired, --not-yet-valid and
#                   --not-before are refused, --not-after rounds up to days.
# Prints the certificate's path on stdout. Exit 77 if openssl (or, for a
# token key, the OpenSSL pkcs11 engine) is missing.
set -eu
set -o pipefail

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
	sed -n '6,35s/^# \{0,1\}//p' "$here/issue-cert.sh" >&2
	exit 2
}

dir='' name='' pub='' out='' days=$P11F_EE_DAYS mode=normal kind='' made=''
email='' cn='' ku='' eku='' nb_spec='' na_spec='' key=''
need() { [ "$1" -ge 2 ] || usage; }
while [ $# -gt 0 ]; do
	case $1 in
	--out) need $#; out=$2; shift ;;
	--days) need $#; days=$2; shift ;;
	--expired) mode=expired ;;
	--not-yet-valid) mode=future ;;
	--not-before) need $#; nb_spec=$2; shift ;;
	--not-after) need $#; na_spec=$2; shift ;;
	--rsa) kind=rsa ;;
	--ec) kind=ec ;;
	--email) need $#; email=$2; shift ;;
	--cn) need $#; cn=$2; shift ;;
	--ku) need $#; ku=$2; shift ;;
	--eku) need $#; eku=$2; shift ;;
	--key) need $#; key=$2; shift ;;
	-h | --help) usage ;;
	-*) printf '%s: unknown option %s\n' "$p11f_prog" "$1" >&2; usage ;;
	*)
		if [ -z "$dir" ]; then dir=$1
		elif [ -z "$name" ]; then name=$1
		elif [ -z "$pub" ]; then pub=$1
		else usage
		fi ;;
	esac
	shift
done
[ -n "$pub" ] || usage
case $days in '' | *[!0-9]*) p11f_die "--days needs a number of days" ;; esac
p11f_require_tools openssl
[ -d "$dir/ca" ] || p11f_die "$dir is not a fixture directory (no ca/)"
[ -f "$pub" ] || p11f_die "no such public key file: $pub"
dir=$(p11f_abspath "$dir")

case $name in
*@*) local_part=${name%%@*} ;;
*) local_part=$name ;;
esac
case $local_part in
'' | *[!A-Za-z0-9._-]*) p11f_die "NAME must be a plain name like alice (or an address)" ;;
esac
[ -n "$email" ] || case $name in *@*) email=$name ;; *) email=$name@$P11F_DOMAIN ;; esac
[ -n "$cn" ] || cn="${local_part^} Example"
[ -n "$kind" ] || kind=$(p11f_keytype "$pub")

now=$(date -u +%s)
span=$((days * 86400))
case $mode in
normal) nb=$((now - 86400)) na=$((now + span)) ;;
expired) na=$((now - 86400)) nb=$((na - span)) ;;
future) nb=$((now + 86400)) na=$((nb + span)) ;;
esac
if [ -n "$nb_spec" ]; then nb=$(date -u -d "$nb_spec" +%s) || p11f_die "bad date: $nb_spec"; fi
if [ -n "$na_spec" ]; then na=$(date -u -d "$na_spec" +%s) || p11f_die "bad date: $na_spec"; fi
[ "$nb" -lt "$na" ] || p11f_die "notBefore must be before notAfter"

p11f_mktemp
p11f_lock_ca "$dir/ca"
case $key in
'') key=$(p11f_find_key "$dir" "$pub") ;;
pkcs11:*) p11f_require_engine ;;
*) [ -f "$key" ] || p11f_die "no such key file: $key" ;;
esac
if [ -z "$key" ]; then
	if [ "$mode" != normal ] || [ -n "$nb_spec" ]; then
		p11f_die "no private key for $pub in $dir (give it with --key): a certificate for a bare public key starts now, so --expired, --not-yet-valid and --not-before cannot be had"
	fi
	printf '%s: note: no private key for %s in %s: the certificate starts now\n' \
		"$p11f_prog" "$pub" "$dir" >&2
fi
if [ -z "$out" ]; then
	mkdir -p "$dir/issued"
	out=$(mktemp --suffix=.pem "$dir/issued/$email-XXXXXX")
	# Do not leave the empty new file behind if issuing fails.
	made=$out
	trap 'rm -rf -- "$P11F_TMP"; if [ -n "$made" ]; then rm -f -- "$made"; fi' EXIT
fi
p11f_issue_cert "$dir" "$name" "$pub" "$out" "$kind" \
	"$(date -u -d "@$nb" +%Y%m%d%H%M%S)" "$(date -u -d "@$na" +%Y%m%d%H%M%S)" \
	"$email" "$cn" "$ku" "$eku" "$key"
made=''
printf '%s\n' "$out"
