#!/bin/sh
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
#
# demo.sh BUILD_DIR - the README's demo on an embedded default: a fresh
# SoftHSM token with four keys generated on it (softhsm-fixtures/), the
# agent started as a user starts it, `p11 keys`, then a digest signed with
# every key and each signature verified by OpenSSL against the key's
# certificate. Everything lives in a temporary directory, removed at exit.
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

step "stopping the agent"
kill "$P11AGENT_PID"; P11AGENT_PID=""
echo "demo complete"
