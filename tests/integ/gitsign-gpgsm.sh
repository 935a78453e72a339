#!/bin/sh
# SPDX-License-Identifier: ISC
# Interoperability with gpgsm, git's default x509 program: a commit signed
# by p11-gitsign verifies with gpgsm, and a commit gpgsm signed verifies
# with p11-gitsign. Skips when gpgsm or gpg-agent is missing.
. "$(dirname "$0")/lib.sh"
use_shared_agent
command -v git >/dev/null || skip "git not installed"
command -v gpgsm >/dev/null && command -v gpg-agent >/dev/null ||
    skip "gpgsm or gpg-agent not installed"
ROOT=$CERTS/root.pem
CA=$FIXDIR/ca

GNUPGHOME=$T/gnupg
export GNUPGHOME
mkdir -m 700 "$GNUPGHOME"
trap 'gpgconf --kill all 2>/dev/null; cleanup' EXIT
echo disable-crl-checks >"$GNUPGHOME/gpgsm.conf"
gpgsm --batch --import "$ROOT" "$CERTS/intermediate.pem" 2>/dev/null
echo "$(openssl x509 -in "$ROOT" -noout -fingerprint -sha1 |
    sed 's/.*=//') S relax" >"$GNUPGHOME/trustlist.txt"

XDG_DATA_HOME=$T/data
export XDG_DATA_HOME
mkdir -p "$XDG_DATA_HOME/p11agent/certs"
cp "$CERTS/intermediate.pem" "$XDG_DATA_HOME/p11agent/certs/"
GIT_CONFIG_NOSYSTEM=1
export GIT_CONFIG_NOSYSTEM
unset P11AGENT_CAFILE

git init -q "$T/repo"
cd "$T/repo"
git config user.name "Alice Example"
git config user.email alice@bigcorp.example
git config gpg.format x509
git config gpg.x509.program p11-gitsign
git config p11.cafile "$ROOT"

# p11-gitsign signs, gpgsm verifies.
git commit -q -S --allow-empty -m "signed by the agent"
git -c gpg.x509.program=gpgsm verify-commit --raw HEAD 2>"$T/v.err" ||
    { cat "$T/v.err" >&2; fail "gpgsm does not verify p11-gitsign's commit"; }
grep -q '^\[GNUPG:\] GOODSIG .*/CN=Alice Example' "$T/v.err" ||
    { cat "$T/v.err" >&2; fail "gpgsm: no GOODSIG"; }
grep -q '^\[GNUPG:\] TRUST_FULLY' "$T/v.err" || fail "gpgsm: not TRUST_FULLY"
pass "gpgsm verifies a commit signed by p11-gitsign"

# gpgsm signs with a software key from the fixture CA; p11-gitsign
# verifies. (gpgsm 2.2 reads only the old PKCS#12 ciphers.)
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/eve.key" \
    -subj "/O=BigCorp/CN=Eve Example/emailAddress=eve@bigcorp.example" \
    -out "$T/eve.csr" 2>"$T/req.err" || { cat "$T/req.err" >&2; fail "eve's CSR"; }
printf '%s\n' 'subjectAltName=email:eve@bigcorp.example' \
    'keyUsage=critical,digitalSignature,nonRepudiation' \
    'extendedKeyUsage=emailProtection' 'basicConstraints=CA:FALSE' \
    >"$T/ext"
openssl x509 -req -in "$T/eve.csr" -CA "$CA/intermediate.pem" \
    -CAkey "$CA/intermediate.key" -CAcreateserial -CAserial "$T/serial" \
    -days 30 -extfile "$T/ext" -out "$T/eve.pem" 2>"$T/x509.err" ||
    { cat "$T/x509.err" >&2; fail "eve's certificate"; }
openssl pkcs12 -export -inkey "$T/eve.key" -in "$T/eve.pem" \
    -passout pass:test -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES \
    -macalg sha1 -out "$T/eve.p12" || fail "eve's PKCS#12"
printf 'test\n' >"$T/pass"
# Start gpg-agent before the secret-key import rather than racing its
# autostart, and keep gpgsm's words if the import fails.
gpgconf --launch gpg-agent || fail "gpg-agent does not start"
gpgsm --batch --pinentry-mode loopback --passphrase-fd 3 \
    --import "$T/eve.p12" 3<"$T/pass" 2>"$T/imp.err" ||
    { cat "$T/imp.err" >&2; fail "gpgsm cannot import eve's key"; }
cat >"$T/gpgsm-loopback" <<EOF
#!/bin/sh
exec gpgsm --batch --pinentry-mode loopback --passphrase-fd 3 "\$@" 3<"$T/pass"
EOF
chmod +x "$T/gpgsm-loopback"
git -c gpg.x509.program="$T/gpgsm-loopback" -c user.email=eve@bigcorp.example \
    -c user.name="Eve Example" -c user.signingkey=eve@bigcorp.example \
    commit -q -S --allow-empty -m "signed by gpgsm" || fail "gpgsm cannot sign a commit"
git verify-commit HEAD 2>"$T/v.err" ||
    { cat "$T/v.err" >&2; fail "p11-gitsign does not verify gpgsm's commit"; }
grep -q '^good signature from Eve Example <eve@bigcorp.example>' "$T/v.err" ||
    { cat "$T/v.err" >&2; fail "gpgsm's commit: verdict line"; }
[ "$(git log -1 --format='%G?|%GS')" = "G|Eve Example <eve@bigcorp.example>" ] ||
    fail "gpgsm's commit: %G? %GS"
pass "p11-gitsign verifies a commit signed by gpgsm"
