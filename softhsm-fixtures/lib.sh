# shellcheck shell=bash
# Shared code for the p11agent SoftHSM fixture scripts (mktoken.sh,
# mktoken-multi.sh, issue-cert.sh, mksoftcert.sh). Sourced, never run.
#
# Everything here works on a fixture directory given by the caller and on a
# private SOFTHSM2_CONF; nothing global is read for writing or changed.

P11F_DOMAIN=bigcorp.example
P11F_ORG=BigCorp
P11F_ROOT_CN="p11agent Test Root CA"
P11F_INT_CN="p11agent Test Intermediate CA"
P11F_EE_DAYS=825

p11f_prog=${0##*/}

p11f_die() {
	printf '%s: error: %s\n' "$p11f_prog" "$*" >&2
	exit 1
}

# Exit 77 (the CTest skip code) with a one-line reason.
p11f_skip() {
	printf '%s: skipped: %s\n' "$p11f_prog" "$*" >&2
	exit 77
}

# p11f_require_tools TOOL... : skip (77) if one is missing.
p11f_require_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 ||
			p11f_skip "$t not found (Debian: apt-get install softhsm2 opensc openssl)"
	done
}

# Sets P11F_MODULE to the SoftHSM PKCS#11 module, or skips.
p11f_find_module() {
	local m
	for m in /usr/lib/softhsm/libsofthsm2.so \
		/usr/lib/*-linux-gnu*/softhsm/libsofthsm2.so \
		/usr/lib64/softhsm/libsofthsm2.so \
		/usr/lib64/pkcs11/libsofthsm2.so \
		/usr/local/lib/softhsm/libsofthsm2.so; do
		if [ -f "$m" ]; then
			P11F_MODULE=$m
			return 0
		fi
	done
	p11f_skip "libsofthsm2.so not found (Debian: apt-get install softhsm2)"
}

# p11f_abspath DIR : print the absolute, physical path of an existing DIR.
p11f_abspath() {
	(CDPATH='' cd -- "$1" && pwd -P)
}

# Private scratch directory, removed on exit. Sets P11F_TMP.
p11f_mktemp() {
	P11F_TMP=$(mktemp -d "${TMPDIR:-/tmp}/p11f.XXXXXX")
	P11F_TMP=$(p11f_abspath "$P11F_TMP")
	# shellcheck disable=SC2064  # expand now: the path is fixed
	trap "rm -rf -- '$P11F_TMP'" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# p11f_quote STRING : STRING quoted for sh (single quotes).
p11f_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# p11f_when DATESPEC : DATESPEC (anything GNU `date -d` takes, e.g. "-1 day",
# "2030-01-01 00:00") as YYYYmmddHHMMSS in UTC.
p11f_when() {
	date -u -d "$1" +%Y%m%d%H%M%S 2>/dev/null || p11f_die "bad date: $1"
}

# ---------------------------------------------------------------------------
# The test CA (software keys, RSA-2048, SHA-256) in DIR/ca, run with
# `openssl ca`: its database is DIR/ca/db; it sets the validity
# (-startdate/-enddate), the serial (-rand_serial) and the extensions.

# p11f_write_ca_conf CADIR
p11f_write_ca_conf() {
	cat >"$1/openssl.cnf" <<'EOF'
# OpenSSL configuration of the p11agent test CA (written by softhsm-fixtures).
# softhsm-fixtures/issue-cert.sh is the easy way to get a certificate. The
# scripts run `openssl ca` in this directory (the paths below are relative
# to it), e.g. for a request REQ.csr signed by the key to certify:
#   cd DIR/ca && openssl ca -config openssl.cnf -name intermediate_ca \
#       -in REQ.csr -out CERT.pem -extensions ee_rsa -rand_serial -notext \
#       -startdate 20250101000000Z -enddate 20270101000000Z -batch
# (ee_rsa and ee_ec copy the subjectAltName address from the request's
# emailAddress.)

[ req ]
distinguished_name = req_dn
prompt             = no
string_mask        = utf8only
utf8               = yes

[ req_dn ]
CN = placeholder

[ ca ]
default_ca = intermediate_ca

[ root_ca ]
dir             = .
certificate     = $dir/root.pem
private_key     = $dir/root.key
database        = $dir/db/root.index
serial          = $dir/db/root.serial
new_certs_dir   = $dir/db/certs
default_md      = sha256
default_days    = 3650
policy          = policy_fixture
preserve        = yes
unique_subject  = no
copy_extensions = none
x509_extensions = v3_intermediate

[ intermediate_ca ]
dir             = .
certificate     = $dir/intermediate.pem
private_key     = $dir/intermediate.key
database        = $dir/db/intermediate.index
serial          = $dir/db/intermediate.serial
new_certs_dir   = $dir/db/certs
default_md      = sha256
default_days    = 825
policy          = policy_fixture
preserve        = yes
unique_subject  = no
copy_extensions = none
x509_extensions = ee_rsa

[ policy_fixture ]
organizationName = optional
commonName       = optional
emailAddress     = optional

[ v3_root ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ v3_intermediate ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ ee_rsa ]
basicConstraints       = CA:FALSE
keyUsage               = critical, digitalSignature, nonRepudiation, keyEncipherment
extendedKeyUsage       = emailProtection
subjectAltName         = email:copy
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ ee_ec ]
basicConstraints       = CA:FALSE
keyUsage               = critical, digitalSignature, nonRepudiation, keyAgreement
extendedKeyUsage       = emailProtection
subjectAltName         = email:copy
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF
}

# p11f_init_ca_db CADIR : empty `openssl ca` databases for root_ca and
# intermediate_ca in CADIR/db. The scripts use -rand_serial; the serial
# files (random start, kept up to date by openssl ca) only matter for manual
# use without it.
p11f_init_ca_db() {
	local db=$1/db c
	mkdir -p "$db/certs"
	for c in root intermediate; do
		: >"$db/$c.index"
		echo 'unique_subject = no' >"$db/$c.index.attr"
		openssl rand -hex 16 >"$db/$c.serial"
	done
}

# p11f_lock_ca CADIR : hold CADIR/db/lock (flock(1), if there is one)
# until this process ends. issue-cert.sh takes it so that concurrent runs
# neither update the `openssl ca` database at once nor log in to the same
# SoftHSM token at once (SoftHSM 2.6's file store is not safe for that:
# logins fail, tokens briefly vanish).
p11f_lock_ca() {
	[ -d "$1/db" ] || return 0
	command -v flock >/dev/null 2>&1 || return 0
	exec {P11F_LOCK_FD}>>"$1/db/lock"
	flock -x "$P11F_LOCK_FD" || p11f_die "cannot lock $1/db/lock"
}

# p11f_ca CADIR CSR OUT.pem ARGS... : `openssl ca` in CADIR certifies the
# request CSR into OUT.pem (absolute paths); ARGS: -name, dates,
# extensions...
p11f_ca() {
	local ca=$1 csr=$2 out=$3 log
	shift 3
	log=$(cd "$ca" && openssl ca -config openssl.cnf -batch -notext \
		-preserveDN -rand_serial -md sha256 -in "$csr" -out "$out" "$@" 2>&1) ||
		p11f_die "openssl ca failed: $log"
}

# p11f_make_ca DIR : root and intermediate CA in DIR/ca, PEMs in DIR/certs.
p11f_make_ca() {
	local dir=$1 ca=$1/ca nb
	mkdir -p "$ca" "$dir/certs"
	chmod 700 "$ca"
	p11f_write_ca_conf "$ca"
	p11f_init_ca_db "$ca"
	nb=$(p11f_when "-2 days")Z
	(
		umask 077
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
			-out "$ca/root.key" 2>/dev/null
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
			-out "$ca/intermediate.key" 2>/dev/null
	)
	openssl req -config "$ca/openssl.cnf" -new -key "$ca/root.key" \
		-subj "/O=$P11F_ORG/CN=$P11F_ROOT_CN" -out "$P11F_TMP/root.csr"
	p11f_ca "$ca" "$P11F_TMP/root.csr" "$ca/root.pem" -name root_ca -selfsign \
		-extensions v3_root -startdate "$nb" -enddate "$(p11f_when "+20 years")Z"

	openssl req -config "$ca/openssl.cnf" -new -key "$ca/intermediate.key" \
		-subj "/O=$P11F_ORG/CN=$P11F_INT_CN" -out "$P11F_TMP/int.csr"
	p11f_ca "$ca" "$P11F_TMP/int.csr" "$ca/intermediate.pem" -name root_ca \
		-extensions v3_intermediate -startdate "$nb" -enddate "$(p11f_when "+10 years")Z"

	openssl verify -CAfile "$ca/root.pem" "$ca/intermediate.pem" >/dev/null ||
		p11f_die "the intermediate CA does not verify"
	cp "$ca/root.pem" "$dir/certs/root.pem"
	cp "$ca/intermediate.pem" "$dir/certs/intermediate.pem"
	cat "$ca/intermediate.pem" "$ca/root.pem" >"$dir/certs/chain.pem"
}

# p11f_keytype PUB.pem : "rsa" or "ec".
p11f_keytype() {
	local asn
	asn=$(openssl asn1parse -in "$1" 2>/dev/null) || p11f_die "cannot read public key $1"
	case $asn in
	*rsaEncryption*) echo rsa ;;
	*id-ecPublicKey*) echo ec ;;
	*) p11f_die "$1: only RSA and EC public keys are supported" ;;
	esac
}

# p11f_same_pub A.pem B.pem : true if both files hold the same public key.
p11f_same_pub() {
	local a b
	a=$(openssl pkey -pubin -in "$1" 2>/dev/null) || return 1
	b=$(openssl pkey -pubin -in "$2" 2>/dev/null) || return 1
	[ -n "$a" ] && [ "$a" = "$b" ]
}

# p11f_issue_cert DIR NAME PUB.pem OUT.pem KIND NOTBEFORE NOTAFTER EMAIL CN KU EKU KEY
# Issue an S/MIME end-entity certificate from the intermediate CA of fixture
# DIR for PUB.pem. KIND is rsa or ec; times are YYYYmmddHHMMSS (UTC); KU/EKU
# empty means the defaults for KIND.
# KEY is PUB.pem's private key; it signs the certificate request that
# `openssl ca` certifies: a key file (unencrypted), or a pkcs11: URI of a
# key on one of DIR's tokens (used through the libp11 engine, PIN from
# DIR/pin). With KEY empty (a bare public key), `openssl x509 -req
# -force_pubkey` issues the certificate instead: OpenSSL 3.0 cannot set the
# start of its validity, so NOTBEFORE is ignored (the certificate starts
# now) and NOTAFTER is rounded up to whole days from now. Callers refuse
# other start times for bare public keys.
p11f_issue_cert() {
	local dir=$1 name=$2 pub=$3 out=$4 kind=$5 nb=$6 na=$7 email=$8 cn=$9
	local ku=${10} eku=${11} key=${12} ca=$1/ca w=$P11F_TMP/issue log
	[ -f "$ca/intermediate.key" ] || p11f_die "$dir is not a fixture directory (no ca/intermediate.key)"
	[ -f "$ca/db/intermediate.index" ] ||
		p11f_die "$dir was made by an older softhsm-fixtures (no ca/db); rebuild it with mktoken.sh --force"
	mkdir -p "$w"
	if [ -z "$ku" ]; then
		case $kind in
		rsa) ku="critical, digitalSignature, nonRepudiation, keyEncipherment" ;;
		ec) ku="critical, digitalSignature, nonRepudiation, keyAgreement" ;;
		*) p11f_die "key kind must be rsa or ec, not $kind" ;;
		esac
	fi
	[ -n "$eku" ] || eku=emailProtection
	cat >"$w/ext.cnf" <<EOF
[ ee ]
basicConstraints       = CA:FALSE
keyUsage               = $ku
extendedKeyUsage       = $eku
subjectAltName         = email:$email
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF
	local -a req=(openssl req -config "$ca/openssl.cnf" -new
		-subj "/O=$P11F_ORG/CN=$cn/emailAddress=$email" -out "$w/req.csr")
	case $key in
	pkcs11:*)
		p11f_engine_conf
		log=$(OPENSSL_CONF=$P11F_ENGINE_CONF SOFTHSM2_CONF=$dir/softhsm2.conf \
			"${req[@]}" -engine pkcs11 -keyform engine -key "$key" \
			-passin "file:$dir/pin" 2>&1) ||
			p11f_die "the token key $key cannot sign a request for $name: $log"
		;;
	'')
		# No private key: a throwaway key signs the request and
		# -force_pubkey puts PUB.pem in.
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-out "$w/throwaway.key" 2>/dev/null
		"${req[@]}" -key "$w/throwaway.key"
		;;
	*)
		"${req[@]}" -key "$key" -passin pass: 2>/dev/null ||
			p11f_die "cannot sign a request for $name with $key"
		;;
	esac
	if [ -n "$key" ]; then
		# The request must hold PUB.pem; openssl ca checks that its key
		# signed it.
		openssl req -in "$w/req.csr" -noout -pubkey >"$w/req.pub"
		p11f_same_pub "$w/req.pub" "$pub" ||
			p11f_die "$key is not the private key of $pub"
		p11f_ca "$ca" "$w/req.csr" "$w/cert.pem" -name intermediate_ca \
			-extfile "$w/ext.cnf" -extensions ee -startdate "${nb}Z" -enddate "${na}Z"
	else
		local days end
		end=$(date -u -d "${na:0:8} ${na:8:2}:${na:10:2}:${na:12:2}" +%s)
		days=$(((end - $(date -u +%s) + 86399) / 86400))
		[ "$days" -ge 1 ] || p11f_die "a certificate for a bare public key must end in the future"
		openssl x509 -req -in "$w/req.csr" -force_pubkey "$pub" \
			-CA "$ca/intermediate.pem" -CAkey "$ca/intermediate.key" \
			-days "$days" -sha256 -extfile "$w/ext.cnf" -extensions ee \
			-out "$w/cert.pem" 2>/dev/null ||
			p11f_die "openssl x509 -req failed for $name"
	fi
	# Sanity: the chain verifies (time aside) and the key is PUB.pem's.
	openssl verify -no_check_time -CAfile "$ca/root.pem" \
		-untrusted "$ca/intermediate.pem" "$w/cert.pem" >/dev/null ||
		p11f_die "the certificate for $name does not verify"
	openssl x509 -in "$w/cert.pem" -noout -pubkey >"$w/cert.pub"
	p11f_same_pub "$w/cert.pub" "$pub" ||
		p11f_die "the certificate for $name does not hold $pub"
	mkdir -p "$(dirname -- "$out")"
	cp "$w/cert.pem" "$out"
	chmod 644 "$out"
	printf '%s %s %s %s\n' \
		"$(openssl x509 -in "$out" -noout -serial | sed 's/^serial=//')" \
		"$(date -u -d "$(openssl x509 -in "$out" -noout -enddate | sed 's/^notAfter=//')" +%Y%m%d%H%M%S)" \
		"$email" "$out" >>"$ca/issued.log"
	rm -rf -- "$w"
}

# ---------------------------------------------------------------------------
# SoftHSM tokens.

p11f_write_conf() {
	local dir=$1
	mkdir -p "$dir/tokens"
	chmod 700 "$dir/tokens"
	cat >"$dir/softhsm2.conf" <<EOF
# SoftHSM v2 configuration of a p11agent test fixture (softhsm-fixtures).
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
}

p11f_tool() {
	pkcs11-tool --module "$P11F_MODULE" "$@"
}

# Slot ids by token label. pkcs11-tool --token-label is NOT used: 0.23
# matches it as a prefix, so "p11agent-demo" would also select
# "p11agent-demo2" (whichever slot comes first). SoftHSM gives an initialized
# token a slot id derived from its serial number, stable across processes.
declare -A P11F_SLOT=()

# p11f_find_token LABEL : "SLOT SERIAL" of the token labelled exactly LABEL.
p11f_find_token() {
	local found
	found=$(softhsm2-util --show-slots 2>/dev/null | awk -v want="$1" '
		/^Slot [0-9]/ { slot = $2; serial = "" }
		/^ *Serial number:/ { serial = $0; sub(/^ *Serial number: */, "", serial); sub(/ *$/, "", serial) }
		/^ *Label:/ { l = $0; sub(/^ *Label: */, "", l); sub(/ *$/, "", l)
			if (l == want) print slot, serial }')
	case $found in
	'') p11f_die "no token labelled '$1'" ;;
	*$'\n'*) p11f_die "more than one token labelled '$1'" ;;
	esac
	printf '%s\n' "$found"
}

# p11f_slot_of LABEL : print the slot id of the token labelled exactly LABEL.
p11f_slot_of() {
	local found
	found=$(p11f_find_token "$1") || exit 1
	printf '%s\n' "${found%% *}"
}

# p11f_pct STRING : STRING percent-encoded for a PKCS#11 URI (RFC 7512):
# every byte but unreserved characters as %XX.
p11f_pct() {
	local s=$1 i c out='' LC_ALL=C
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

# p11f_token_uri LABEL ID TYPE : the PKCS#11 URI of the key with CKA_ID ID
# (hex) and TYPE (private or public) on the token labelled exactly LABEL.
# The token is named by label and serial number, which libp11 compares
# exactly (not as a prefix).
p11f_token_uri() {
	local found
	found=$(p11f_find_token "$1") || exit 1
	printf 'pkcs11:token=%s;serial=%s;id=%s;type=%s\n' "$(p11f_pct "$1")" \
		"$(p11f_pct "${found#* }")" "$(printf '%s' "$2" | sed 's/../%&/g')" "$3"
}

# p11f_require_engine : skip (77) without the libp11 pkcs11 engine for OpenSSL.
p11f_require_engine() {
	openssl engine pkcs11 >/dev/null 2>&1 ||
		p11f_skip "the OpenSSL pkcs11 engine is missing (Debian: apt-get install libengine-pkcs11-openssl)"
}

# p11f_engine_conf : an OpenSSL configuration (P11F_ENGINE_CONF, in
# P11F_TMP) that sets up the libp11 pkcs11 engine with the SoftHSM module,
# not with p11-kit's proxy (libp11's default, which would see every module
# p11-kit knows). Use as OPENSSL_CONF=$P11F_ENGINE_CONF with SOFTHSM2_CONF.
p11f_engine_conf() {
	[ -z "${P11F_ENGINE_CONF:-}" ] || return 0
	[ -n "${P11F_MODULE:-}" ] || p11f_find_module
	P11F_ENGINE_CONF=$P11F_TMP/engine.cnf
	cat >"$P11F_ENGINE_CONF" <<EOF
# libp11 engine with SoftHSM only (softhsm-fixtures, temporary).
openssl_conf = p11f_init

[ p11f_init ]
engines = p11f_engines

[ p11f_engines ]
pkcs11 = p11f_pkcs11

[ p11f_pkcs11 ]
engine_id   = pkcs11
MODULE_PATH = $P11F_MODULE
init        = 0
EOF
}

# p11f_resolve_slot LABEL : remember the slot of LABEL for p11f_on.
p11f_resolve_slot() {
	P11F_SLOT[$1]=$(p11f_slot_of "$1")
}

# p11f_on LABEL ARGS... : pkcs11-tool on the token labelled exactly LABEL.
p11f_on() {
	local label=$1 slot
	shift
	slot=${P11F_SLOT[$label]:-}
	[ -n "$slot" ] || slot=$(p11f_slot_of "$label")
	p11f_tool --slot "$slot" "$@"
}

# p11f_find_key DIR PUB.pem : the private key of PUB.pem in fixture DIR as
# p11f_issue_cert takes it (a DIR/soft/*.key file, or the pkcs11: URI of a
# key on one of the tokens named in DIR/env); nothing if DIR has none. Dies
# if a token cannot be searched, rather than taking PUB.pem for a bare key.
p11f_find_key() {
	local dir=$1 pub=$2 k label id ids cand=$P11F_TMP/cand.pub
	local -a labels=()
	for k in "$dir"/soft/*.key; do
		[ -f "$k" ] || continue
		openssl pkey -in "$k" -pubout -out "$cand" 2>/dev/null || continue
		if p11f_same_pub "$cand" "$pub"; then
			printf '%s\n' "$k"
			return 0
		fi
	done
	[ -f "$dir/env" ] && [ -f "$dir/softhsm2.conf" ] || return 0
	mapfile -t labels < <(
		unset P11AGENT_TEST_TOKEN_LABEL P11AGENT_TEST_TOKEN2_LABEL
		# shellcheck source=/dev/null
		. "$dir/env" >/dev/null 2>&1
		printf '%s\n' "${P11AGENT_TEST_TOKEN_LABEL:-}" "${P11AGENT_TEST_TOKEN2_LABEL:-}" | grep .
	)
	[ ${#labels[@]} -gt 0 ] || return 0
	p11f_require_tools softhsm2-util pkcs11-tool
	p11f_find_module
	p11f_require_engine
	local -x SOFTHSM2_CONF=$dir/softhsm2.conf
	p11f_engine_conf
	for label in "${labels[@]}"; do
		ids=$(p11f_on "$label" --list-objects --type pubkey 2>&1) ||
			p11f_die "cannot list the public keys of token $label: $ids"
		for id in $(printf '%s\n' "$ids" | awk '$1 == "ID:" { print $2 }'); do
			k=$(p11f_token_uri "$label" "$id" public) || exit 1
			OPENSSL_CONF=$P11F_ENGINE_CONF openssl pkey -engine pkcs11 -inform engine \
				-pubin -in "$k" -pubout -out "$cand" >/dev/null 2>&1 ||
				p11f_die "cannot read public key $id of token $label"
			if p11f_same_pub "$cand" "$pub"; then
				p11f_token_uri "$label" "$id" private
				return 0
			fi
		done
	done
}

# p11f_init_token LABEL : a new token in the first free slot.
p11f_init_token() {
	local out
	out=$(softhsm2-util --init-token --free --label "$1" \
		--pin "$P11F_PIN" --so-pin "$P11F_SO_PIN" 2>&1) ||
		p11f_die "softhsm2-util --init-token failed: $out"
}

# p11f_genkey TOKEN ID NAME KEYTYPE : key pair generated on the token.
# Private keys: CKA_SENSITIVE=true (asked for explicitly), CKA_EXTRACTABLE
# left at its false default (never --extractable); RSA sign+decrypt+unwrap,
# EC sign+derive. p11f_check_keys verifies the result.
p11f_genkey() {
	local token=$1 id=$2 name=$3 type=$4 out
	local -a usage
	case $type in
	rsa:*) usage=(--usage-sign --usage-decrypt --usage-wrap) ;;
	EC:*) usage=(--usage-sign --usage-derive) ;;
	*) p11f_die "unsupported key type $type" ;;
	esac
	out=$(p11f_on "$token" --login --pin "$P11F_PIN" \
		--keypairgen --key-type "$type" --id "$id" --label "$name" \
		"${usage[@]}" --sensitive 2>&1) ||
		p11f_die "key generation for $name failed: $out"
}

# p11f_export_pub TOKEN ID KIND OUT.pem : the public key as PEM SPKI, read
# through the libp11 engine (pkcs11-tool 0.23's --read-object cannot do
# P-384 keys: "cannot create EVP_PKEY").
p11f_export_pub() {
	local token=$1 id=$2 kind=$3 out=$4 uri log
	uri=$(p11f_token_uri "$token" "$id" public)
	p11f_engine_conf
	log=$(OPENSSL_CONF=$P11F_ENGINE_CONF openssl pkey -engine pkcs11 -inform engine \
		-pubin -in "$uri" -pubout -out "$out" 2>&1) ||
		p11f_die "cannot read public key $id from token $token: $log"
	[ "$(p11f_keytype "$out")" = "$kind" ] ||
		p11f_die "public key $id from token $token is not a $kind key"
}

# p11f_write_cert TOKEN ID NAME CERT.pem
p11f_write_cert() {
	local der=$P11F_TMP/cert-$2.der out
	openssl x509 -in "$4" -outform DER -out "$der"
	out=$(p11f_on "$1" --login --pin "$P11F_PIN" \
		--write-object "$der" --type cert --id "$2" --label "$3" 2>&1) ||
		p11f_die "cannot store the certificate of $3: $out"
}

# p11f_check_keys TOKEN ID:KIND... : every listed private key exists, is
# sensitive and never extractable (read back with C_GetAttributeValue via
# pkcs11-tool -O), and has the usages of its kind.
p11f_check_keys() {
	local token=$1 listing spec id kind
	shift
	listing=$(p11f_on "$token" --login --pin "$P11F_PIN" \
		--list-objects --type privkey 2>&1) || p11f_die "cannot list keys: $listing"
	for spec in "$@"; do
		id=${spec%%:*} kind=${spec#*:}
		printf '%s\n' "$listing" | awk -v id="$id" -v kind="$kind" '
			/^Private Key Object/ { inkey = 1; cur = ""; use = ""; acc = ""; next }
			/^[A-Z]/ { inkey = 0 }
			inkey && $1 == "ID:" { cur = $2 }
			inkey && $1 == "Usage:" { use = $0 }
			inkey && $1 == "Access:" { acc = $0 }
			inkey && cur == id && acc != "" && use != "" { found = 1; u = use; a = acc }
			END {
				if (!found) { print "private key " id " not found"; exit 1 }
				sub(/^ *Access: */, "", a); n = split(a, f, /, */)
				for (i = 1; i <= n; i++) { has[f[i]] = 1 }
				if (!has["sensitive"]) { print "key " id " is not sensitive: " a; exit 1 }
				if (has["extractable"]) { print "key " id " is extractable: " a; exit 1 }
				if (!has["never extractable"]) { print "key " id " was extractable: " a; exit 1 }
				need = (kind == "rsa") ? "sign decrypt unwrap" : "sign derive"
				sub(/^ *Usage: */, "", u); m = split(u, g, /, */)
				for (i = 1; i <= m; i++) { can[g[i]] = 1 }
				k = split(need, h, " ")
				for (i = 1; i <= k; i++) if (!can[h[i]]) { print "key " id " lacks " h[i] ": " u; exit 1 }
			}' || p11f_die "token $token: private key check failed"
	done
}

# p11f_user DIR TOKEN NAME ID KEYTYPE : key on the token, its public key in
# DIR/pub, its certificate from the test CA (request signed by the token key)
# in DIR/certs and on the token.
p11f_user() {
	local dir=$1 token=$2 name=$3 id=$4 type=$5 kind=rsa
	case $type in EC:*) kind=ec ;; esac
	local email=$name@$P11F_DOMAIN
	local key
	p11f_genkey "$token" "$id" "$name" "$type"
	p11f_export_pub "$token" "$id" "$kind" "$dir/pub/$name.pem"
	# The token key itself signs the certificate request.
	key=$(p11f_token_uri "$token" "$id" private)
	p11f_issue_cert "$dir" "$name" "$dir/pub/$name.pem" "$dir/certs/$email.pem" \
		"$kind" "$P11F_NOTBEFORE" "$P11F_NOTAFTER" "$email" "${name^} Example" "" "" "$key"
	p11f_write_cert "$token" "$id" "$name" "$dir/certs/$email.pem"
}

# ---------------------------------------------------------------------------
# mktoken.sh / mktoken-multi.sh

p11f_mktoken_usage() {
	local extra=''
	if [ "$1" = multi ]; then extra=' [--label2 L2]'; fi
	cat >&2 <<EOF
usage: $p11f_prog DIR [--force] [--label L]$extra [--pin PIN] [--so-pin SOPIN]
Builds a SoftHSM token with keys generated on it, a test CA and S/MIME
certificates in DIR; then '. DIR/env'. See softhsm-fixtures/README.md.
EOF
	exit 2
}

# Names in DIR that the fixture scripts create (and --force removes).
P11F_ENTRIES="tokens certs ca pub soft issued pin so-pin env softhsm2.conf"

# p11f_mktoken single|multi ARGS...
p11f_mktoken() {
	local mode=$1 dir='' force=0 label=p11agent-demo label2=p11agent-demo2
	shift
	P11F_PIN=123456 P11F_SO_PIN=12345678
	while [ $# -gt 0 ]; do
		case $1 in
		--force) force=1 ;;
		--label) [ $# -ge 2 ] || p11f_mktoken_usage "$mode"; label=$2; shift ;;
		--label2)
			if [ "$mode" != multi ] || [ $# -lt 2 ]; then p11f_mktoken_usage "$mode"; fi
			label2=$2; shift ;;
		--pin) [ $# -ge 2 ] || p11f_mktoken_usage "$mode"; P11F_PIN=$2; shift ;;
		--so-pin) [ $# -ge 2 ] || p11f_mktoken_usage "$mode"; P11F_SO_PIN=$2; shift ;;
		-h | --help) p11f_mktoken_usage "$mode" ;;
		-*) printf '%s: unknown option %s\n' "$p11f_prog" "$1" >&2; p11f_mktoken_usage "$mode" ;;
		*) [ -z "$dir" ] || p11f_mktoken_usage "$mode"; dir=$1 ;;
		esac
		shift
	done
	[ -n "$dir" ] || p11f_mktoken_usage "$mode"
	local l
	for l in "$label" "$label2"; do
		if [ ${#l} -lt 1 ] || [ ${#l} -gt 32 ]; then
			p11f_die "a token label must have 1 to 32 characters: '$l'"
		fi
	done
	[ "$mode" = single ] || [ "$label" != "$label2" ] || p11f_die "the two token labels must differ"
	[ ${#P11F_PIN} -ge 4 ] || p11f_die "the user PIN must have at least 4 characters (SoftHSM)"
	[ ${#P11F_SO_PIN} -ge 4 ] || p11f_die "the SO PIN must have at least 4 characters (SoftHSM)"

	p11f_require_tools softhsm2-util pkcs11-tool openssl
	p11f_find_module
	p11f_require_engine

	if [ -e "$dir" ] && [ ! -d "$dir" ]; then
		p11f_die "$dir exists and is not a directory"
	fi
	if [ -d "$dir" ] && [ -n "$(ls -A -- "$dir")" ]; then
		[ "$force" = 1 ] || p11f_die "$dir is not empty (use --force to rebuild the fixture in it)"
		local e
		for e in $P11F_ENTRIES; do rm -rf -- "${dir:?}/$e"; done
	fi
	mkdir -p -- "$dir"
	dir=$(p11f_abspath "$dir")
	p11f_mktemp

	export SOFTHSM2_CONF="$dir/softhsm2.conf"
	p11f_write_conf "$dir"
	(
		umask 077
		printf '%s' "$P11F_PIN" >"$dir/pin"
		printf '%s' "$P11F_SO_PIN" >"$dir/so-pin"
	)
	mkdir -p "$dir/pub" "$dir/certs"

	P11F_NOTBEFORE=$(p11f_when "-1 day")
	P11F_NOTAFTER=$(p11f_when "+$P11F_EE_DAYS days")

	p11f_init_token "$label"
	p11f_resolve_slot "$label"
	if [ "$mode" = multi ]; then
		p11f_init_token "$label2"
		p11f_resolve_slot "$label2"
	fi
	p11f_make_ca "$dir"

	p11f_user "$dir" "$label" alice 01 rsa:2048
	p11f_user "$dir" "$label" bob 02 rsa:3072
	p11f_user "$dir" "$label" carol 03 EC:prime256v1
	p11f_user "$dir" "$label" dave 04 EC:secp384r1
	p11f_check_keys "$label" 01:rsa 02:rsa 03:ec 04:ec
	if [ "$mode" = multi ]; then
		p11f_user "$dir" "$label2" erin 05 rsa:2048
		p11f_check_keys "$label2" 05:rsa
	fi

	{
		echo "# p11agent SoftHSM test fixture (softhsm-fixtures/$p11f_prog). Use: . $dir/env"
		echo "export SOFTHSM2_CONF=$(p11f_quote "$dir/softhsm2.conf")"
		echo "export P11AGENT_TEST_MODULE=$(p11f_quote "$P11F_MODULE")"
		echo "export P11AGENT_TEST_TOKEN_LABEL=$(p11f_quote "$label")"
		if [ "$mode" = multi ]; then
			echo "export P11AGENT_TEST_TOKEN2_LABEL=$(p11f_quote "$label2")"
		else
			echo "unset P11AGENT_TEST_TOKEN2_LABEL"
		fi
		echo "export P11AGENT_TEST_PINFILE=$(p11f_quote "$dir/pin")"
		echo "export P11AGENT_TEST_SO_PINFILE=$(p11f_quote "$dir/so-pin")"
		echo "export P11AGENT_TEST_CERTS=$(p11f_quote "$dir/certs")"
		echo "export P11AGENT_TEST_DIR=$(p11f_quote "$dir")"
	} >"$dir/env"
	echo "SoftHSM fixture ready in $dir (use: . $(p11f_quote "$dir/env"))"
}
