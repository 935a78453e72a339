#!/usr/bin/env bash
# A software (file) key and a certificate for it from a fixture's test CA,
# for interop tests where a peer needs a key in a file.
#
# usage: mksoftcert.sh DIR NAME TYPE [--force] [issue-cert.sh options]
#   TYPE: rsa (2048), rsa:BITS, ec (P-256), ec:CURVE (P-256, P-384, P-521)
#   Writes DIR/soft/NAME.key (unencrypted PKCS#8 PEM, mode 0600),
#   DIR/soft/NAME.pub.pem and DIR/soft/NAME.pem (the certificate), then
#   prints the certificate's path. Refuses to replace NAME.key unless --force.
#   Other options (--days, --expired, --email, ...) go to issue-cert.sh.
set -eu
set -o pipefail

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
	sed -n '5,11s/^# \{0,1\}//p' "$here/mksoftcert.sh" >&2
	exit 2
}

[ $# -ge 3 ] || usage
dir=$1 name=$2 type=$3
shift 3
force=0 out=''
rest=()
while [ $# -gt 0 ]; do
	case $1 in
	--force) force=1 ;;
	--out) [ $# -ge 2 ] || usage; out=$2; shift ;;
	*) rest+=("$1") ;;
	esac
	shift
done
p11f_require_tools openssl
[ -d "$dir/ca" ] || p11f_die "$dir is not a fixture directory (no ca/)"
case $name in '' | */* | .*) p11f_die "bad NAME: $name" ;; esac

soft=$dir/soft
key=$soft/$name.key pub=$soft/$name.pub.pem
[ -n "$out" ] || out=$soft/$name.pem
if [ -e "$key" ] && [ "$force" != 1 ]; then
	p11f_die "$key exists (use --force to replace it)"
fi
mkdir -p "$soft"
chmod 700 "$soft"

case $type in
rsa) gen=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048) ;;
rsa:[0-9]*) gen=(-algorithm RSA -pkeyopt "rsa_keygen_bits:${type#rsa:}") ;;
ec) gen=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256) ;;
ec:*) gen=(-algorithm EC -pkeyopt "ec_paramgen_curve:${type#ec:}") ;;
*) p11f_die "TYPE must be rsa, rsa:BITS, ec or ec:CURVE" ;;
esac
rm -f -- "$key"
(umask 077 && openssl genpkey "${gen[@]}" -out "$key" 2>/dev/null) ||
	p11f_die "cannot generate a $type key"
openssl pkey -in "$key" -pubout -out "$pub"
# The software key signs the certificate request.
"$here/issue-cert.sh" "$dir" "$name" "$pub" --out "$out" --key "$key" \
	"${rest[@]+"${rest[@]}"}"
