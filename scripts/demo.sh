#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# demo.sh BUILD_DIR - the README's demo on an embedded default: a fresh
# SoftHSM token with four keys generated on it (softhsm-fixtures/), the
# agent started as a user starts it, `p11 keys`, a digest signed with
# every key and each signature verified by OpenSSL against the key's
# certificate, a key unwrapped, then the S/MIME story: alice signs and
# encrypts a message to bob, bob decrypts and verifies it, and tampered
# copies fail. Everything lives in a temporary directory, removed at exit.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
PATH=$build/bin:$PATH
demo=$(mktemp -d "${TMPDIR:-/tmp}/p11agent-demo.XXXXXX")
HOME=$demo/home XDG_CONFIG_HOME=$demo/home/.config XDG_RUNTIME_DIR=$demo/run
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$HOME" "$XDG_RUNTIME_DIR"
export PATH HOME XDG_CONFIG_HOME XDG_RUNTIME_DIR
cleanup() {
	[ -n "${P11AGENT_PID:-}" ] && kill "$P11AGENT_PID" 2>/dev/null
	rm -rf "$demo"
}
trap cleanup EXIT INT TERM
step() { printf '\n==> %s\n' "$*"; }

step "creating a SoftHSM token with keys generated on it"
bash "$here/softhsm-fixtures/mktoken.sh" "$demo/token" >/dev/null
. "$demo/token/env"

step "starting the agent: eval \$(p11agent --module libsofthsm2.so --pin-file ...)"
eval "$(p11agent --module "$P11AGENT_TEST_MODULE" --pin-file "$P11AGENT_TEST_PINFILE")"
p11 status

step "p11 keys"
p11 keys

step "signing a digest with every key; openssl verifies each signature"
printf 'Hello from p11agent\n' >"$demo/msg"
for who in alice bob carol dave; do
	cert=$P11AGENT_TEST_CERTS/$who@bigcorp.example.pem
	openssl x509 -in "$cert" -noout -pubkey >"$demo/$who.pub"
	case $who in alice|bob) alg=rsa-pss-sha256 ;; carol) alg=ecdsa-sha256 ;;
	dave) alg=ecdsa-sha384 ;; esac
	p11 sign --key "$who@bigcorp.example" --alg $alg --in "$demo/msg" \
	    --out "$demo/$who.sig"
	h=sha${alg##*sha}
	if [ $alg = rsa-pss-sha256 ]; then
		set -- -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest
	else
		set --
	fi
	openssl dgst -"$h" -verify "$demo/$who.pub" "$@" \
	    -signature "$demo/$who.sig" "$demo/msg" >/dev/null
	printf '%-24s %-16s signature verified by openssl\n' \
	    "$who@bigcorp.example" "$alg"
done

step "unwrapping a key that openssl wrapped for bob (RSA-OAEP)"
openssl rand 32 >"$demo/cek"
openssl x509 -in "$P11AGENT_TEST_CERTS/bob@bigcorp.example.pem" -noout -pubkey >"$demo/bob.pub"
openssl pkeyutl -encrypt -pubin -inkey "$demo/bob.pub" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
    -pkeyopt rsa_mgf1_md:sha256 -in "$demo/cek" -out "$demo/cek.wrapped"
p11 decrypt --key bob --alg rsa-oaep-sha256 --in "$demo/cek.wrapped" --out "$demo/cek.out"
cmp "$demo/cek" "$demo/cek.out"
echo "bob@bigcorp.example      rsa-oaep-sha256  unwrapped key matches"

step "S/MIME: alice signs a message; bob's side verifies it"
cat >"$demo/msg.eml" <<'MSG'
From: Alice Example <alice@bigcorp.example>
To: Bob Example <bob@bigcorp.example>
Subject: Q4 contract approval
Date: Sat, 28 Nov 2026 12:00:00 +0000
Message-ID: <demo-1@bigcorp.example>

Bob, the Q4 contract is approved. -- Alice
MSG
ca=$P11AGENT_TEST_CERTS/root.pem
p11 smime sign --certs "$P11AGENT_TEST_CERTS" --in "$demo/msg.eml" \
    --out "$demo/signed.eml"
p11 smime verify --CAfile "$ca" --in "$demo/signed.eml"

step "a tampered copy of the signed message fails to verify"
sed 's/approved/rejected/' "$demo/signed.eml" >"$demo/tampered.eml"
if p11 smime verify --CAfile "$ca" --in "$demo/tampered.eml"; then
	echo "demo: the tampered message verified" >&2; exit 1
fi

step "alice signs and encrypts to bob (AES-256-GCM); bob decrypts and verifies"
p11 smime encrypt --sign --cipher aes256-gcm --certs "$P11AGENT_TEST_CERTS" \
    --in "$demo/msg.eml" --out "$demo/encrypted.eml"
sed -n '1,12p' "$demo/encrypted.eml"
echo "[... $(wc -c <"$demo/encrypted.eml") bytes in all]"
p11 smime decrypt --key bob@bigcorp.example --CAfile "$ca" \
    --in "$demo/encrypted.eml" --out "$demo/decrypted.eml"
grep -q "contract is approved" "$demo/decrypted.eml"

step "a tampered ciphertext is refused and nothing is written"
/usr/bin/python3 - "$demo/encrypted.eml" "$demo/enc-tampered.eml" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = max(n for n, l in enumerate(lines) if len(l) > 60)
l = lines[i]
lines[i] = l[:30] + ("A" if l[30] != "A" else "B") + l[31:]
open(sys.argv[2], "w").write("\n".join(lines))
PY
rm -f "$demo/dec2.eml"
if p11 smime decrypt --key bob@bigcorp.example --CAfile "$ca" \
    --in "$demo/enc-tampered.eml" --out "$demo/dec2.eml"; then
	echo "demo: the tampered ciphertext decrypted" >&2; exit 1
fi
[ ! -e "$demo/dec2.eml" ]

step "stopping the agent"
kill "$P11AGENT_PID"; P11AGENT_PID=""
echo "demo complete"
