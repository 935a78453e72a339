#!/bin/sh
# SPDX-License-Identifier: ISC
# git signs commits and tags with p11-gitsign (gpg.format x509) through the
# agent and verifies them: verify-commit, verify-tag, log --show-signature
# and the %G? family; a changed commit or tag fails; a signature by a
# certificate outside the trust anchors fails; with no agent, git commit
# fails and no commit is made; the key by label, fingerprint and EC curve.
. "$(dirname "$0")/lib.sh"
use_shared_agent
ROOT=$CERTS/root.pem
command -v git >/dev/null || skip "git not installed"

# Intermediates come from the certificate directory, as for p11 smime.
XDG_DATA_HOME=$T/data
export XDG_DATA_HOME
mkdir -p "$XDG_DATA_HOME/p11agent/certs"
cp "$CERTS/intermediate.pem" "$XDG_DATA_HOME/p11agent/certs/"
GIT_CONFIG_NOSYSTEM=1
export GIT_CONFIG_NOSYSTEM
unset P11AGENT_CAFILE

R=$T/repo
git init -q "$R"
cd "$R"
git config user.name "Alice Example"
git config user.email alice@bigcorp.example
git config gpg.format x509
git config gpg.x509.program p11-gitsign
git config p11.cafile "$ROOT"

fpr() {	# fpr NAME: the certificate's SHA-1 fingerprint, as gpgsm shows it
	openssl x509 -in "$CERTS/$1@bigcorp.example.pem" -noout \
	    -fingerprint -sha1 | sed 's/.*=//; s/://g'
}

# A signed commit verifies, and git's views of it agree.
echo one >f
git add f
git commit -q -S -m "first"
git cat-file commit HEAD | grep -q '^gpgsig -----BEGIN SIGNED MESSAGE-----$' ||
    fail "no x509 gpgsig header"
git verify-commit HEAD 2>"$T/v.err" || { cat "$T/v.err" >&2; fail "verify-commit"; }
grep -q '^good signature from Alice Example <alice@bigcorp.example>, signed [0-9-]* [0-9:]* UTC, certificate issued by p11agent Test Intermediate CA$' \
    "$T/v.err" || { cat "$T/v.err" >&2; fail "verify-commit line"; }
got=$(git log -1 --format='%G?|%GS|%GK|%GF|%GT')
want="G|Alice Example <alice@bigcorp.example>|$(fpr alice)|$(fpr alice)|fully"
[ "$got" = "$want" ] || fail "log format: $got, wanted $want"
git verify-commit --raw HEAD 2>&1 | grep -q "^\[GNUPG:\] GOODSIG $(fpr alice) Alice Example" ||
    fail "verify-commit --raw lacks GOODSIG"
git log -1 --show-signature | grep -q '^good signature from Alice Example' ||
    fail "log --show-signature"
pass "git commit -S, verify-commit, log --show-signature, %G? %GS %GK %GT"

# Signed tags.
git tag -s v1 -m "release one"
git cat-file tag v1 | grep -q '^-----BEGIN SIGNED MESSAGE-----$' ||
    fail "tag lacks the signature"
git verify-tag v1 2>"$T/v.err" || { cat "$T/v.err" >&2; fail "verify-tag"; }
grep -q '^good signature from Alice Example' "$T/v.err" || fail "verify-tag line"
pass "git tag -s, verify-tag"

# The same signature on a changed commit: the message, then the tree.
git cat-file commit HEAD >"$T/c"
sed 's/^first$/first, and a change/' "$T/c" >"$T/c2"
cmp -s "$T/c" "$T/c2" && fail "sed did not change the commit"
bad=$(git hash-object -t commit -w "$T/c2")
if git verify-commit "$bad" 2>"$T/v.err"; then fail "changed commit verified"; fi
grep -q 'bad signature from Alice Example' "$T/v.err" ||
    { cat "$T/v.err" >&2; fail "changed commit: reason"; }
[ "$(git log -1 --format=%G? "$bad")" = B ] || fail "changed commit: not B"
echo two >g
git add g
tree=$(git write-tree)
sed "s/^tree .*/tree $tree/" "$T/c" >"$T/c3"
bad=$(git hash-object -t commit -w "$T/c3")
if git verify-commit "$bad" 2>/dev/null; then fail "commit with another tree verified"; fi
git reset -q
rm g
git cat-file tag v1 | sed 's/^release one$/release two/' >"$T/t2"
bad=$(git hash-object -t tag -w "$T/t2")
if git verify-tag "$bad" 2>"$T/v.err"; then fail "changed tag verified"; fi
grep -q 'bad signature' "$T/v.err" || { cat "$T/v.err" >&2; fail "changed tag: reason"; }
pass "changed commits and tags fail"

# Trust: another set of anchors refuses alice ("U": good but untrusted);
# $P11AGENT_CAFILE wins over git config.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other.key" \
    -subj "/CN=Other Root" -days 30 -out "$T/other.pem" 2>/dev/null
git config p11.cafile "$T/other.pem"
if git verify-commit HEAD 2>"$T/v.err"; then fail "verified against another root"; fi
grep -q 'untrusted certificate: "p11agent Test Intermediate CA" is not issued by a trust anchor' \
    "$T/v.err" || { cat "$T/v.err" >&2; fail "untrusted: reason"; }
[ "$(git log -1 --format='%G?|%GT')" = "U|undefined" ] || fail "untrusted: not U"
P11AGENT_CAFILE=$ROOT git verify-commit HEAD 2>/dev/null ||
    fail "P11AGENT_CAFILE does not override git config"
git config p11.cafile "$ROOT"
pass "untrusted anchors fail; P11AGENT_CAFILE overrides p11.cafile"

# A commit signed by a key whose certificate nobody trusts (a software
# key with a self-signed certificate claiming alice's name) fails.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/mallory.key" \
    -subj "/CN=Alice Example/emailAddress=alice@bigcorp.example" \
    -addext "subjectAltName=email:alice@bigcorp.example" -days 30 \
    -out "$T/mallory.pem" 2>/dev/null
git cat-file commit HEAD | awk '
	/^gpgsig / { skip = 1; next }
	skip && /^ / { next }
	{ skip = 0; print }' >"$T/payload"
openssl cms -sign -binary -signer "$T/mallory.pem" -inkey "$T/mallory.key" \
    -in "$T/payload" -outform PEM -out "$T/m.pem"
# Insert the signature as the gpgsig header, after committer.
awk -v sig="$T/m.pem" '
	{ print }
	/^committer / && !done {
		first = 1
		while ((getline l < sig) > 0) {
			gsub(/-----(BEGIN|END) CMS-----/, "&", l)
			sub(/BEGIN CMS/, "BEGIN SIGNED MESSAGE", l)
			sub(/END CMS/, "END SIGNED MESSAGE", l)
			print (first ? "gpgsig " : " ") l
			first = 0
		}
		done = 1
	}' "$T/payload" >"$T/forged"
forged=$(git hash-object -t commit -w "$T/forged")
if git verify-commit "$forged" 2>"$T/v.err"; then fail "forged commit verified"; fi
grep -q 'untrusted certificate: "Alice Example" is not issued by a trust anchor' \
    "$T/v.err" || { cat "$T/v.err" >&2; fail "forged: reason"; }
[ "$(git log -1 --format=%G? "$forged")" = U ] || fail "forged: not U"
pass "a signature by an untrusted certificate fails"

# Other keys: by label (EC P-256), by certificate fingerprint (EC P-384,
# SHA-384 by the curve's size), and gpgsm's key id form 0x<fingerprint>.
for k in carol "$(fpr dave)" "0x$(fpr bob)"; do
	git config user.signingkey "$k"
	git commit -q -S --allow-empty -m "by $k"
	git verify-commit HEAD 2>/dev/null || fail "verify with key $k"
done
git config --unset user.signingkey
[ "$(git log -3 --format=%GS | tr '\n' '|')" = \
    "Bob Example <bob@bigcorp.example>|Dave Example <dave@bigcorp.example>|Carol Example <carol@bigcorp.example>|" ] ||
    fail "signers by key reference"
git verify-commit --raw HEAD~1 2>&1 | grep -q "VALIDSIG $(fpr dave) .* 19 9 00" ||
    fail "dave: not ECDSA with SHA-384"
pass "user.signingkey: label, fingerprint, 0x fingerprint; EC P-256/P-384"

# No agent: git commit fails and makes no commit; the reason is clear
# when p11-gitsign is asked directly.
head=$(git rev-parse HEAD)
echo three >f
git add f
if P11AGENT_SOCK=$T/no-agent/sock git commit -q -S -m "no agent" \
    2>"$T/c.err"; then
	fail "commit without an agent succeeded"
fi
grep -q 'failed to sign' "$T/c.err" || { cat "$T/c.err" >&2; fail "git's error"; }
[ "$(git rev-parse HEAD)" = "$head" ] || fail "a commit was made"
git diff --cached --quiet && fail "the staged change was lost"
P11AGENT_SOCK=$T/no-agent/sock expect_fail 2 "agent not reachable at $T/no-agent/sock" \
    p11-gitsign --status-fd=2 -bsau "Alice Example <alice@bigcorp.example>"
# A key nobody has: INV_SGNR for git, the reason for people.
expect_fail 1 'no key matches "nobody@bigcorp.example"' \
    p11-gitsign --status-fd=2 -bsau nobody@bigcorp.example
grep -q '^\[GNUPG:\] INV_SGNR 0 nobody@bigcorp.example$' "$T/ef.err" ||
    fail "no INV_SGNR"
pass "no agent or no key: the commit fails, nothing is committed"

# Direct use: gpgsm's argument forms, exit codes and --help.
printf 'payload\n' >"$T/p"
p11-gitsign --status-fd=2 -bsau alice@bigcorp.example <"$T/p" >"$T/s.pem" \
    2>"$T/s.err"
grep -q '^\[GNUPG:\] SIG_CREATED D 1 8 00 [0-9]* '"$(fpr alice)"'$' "$T/s.err" ||
    { cat "$T/s.err" >&2; fail "SIG_CREATED"; }
head -1 "$T/s.pem" | grep -q '^-----BEGIN SIGNED MESSAGE-----$' || fail "PEM label"
p11 gitsign --status-fd=1 --verify "$T/s.pem" - <"$T/p" >"$T/st" 2>/dev/null ||
    fail "p11 gitsign --verify"
grep -q '^\[GNUPG:\] TRUST_FULLY 0 shell$' "$T/st" || fail "TRUST_FULLY"
P11AGENT_CAFILE=$ROOT p11 gitsign --verify "$T/s.pem" "$T/p" 2>/dev/null ||
    fail "--verify SIG DATA"
# OpenSSL reads it too (the PEM label aside).
sed 's/SIGNED MESSAGE/CMS/' "$T/s.pem" >"$T/s.cms"
openssl cms -verify -binary -inform PEM -in "$T/s.cms" -content "$T/p" \
    -CAfile "$CERTS/chain.pem" -purpose any -out /dev/null 2>/dev/null ||
    fail "openssl cms -verify"
printf 'payload!\n' >"$T/p2"
expect_fail 1 'bad signature' p11-gitsign --status-fd=1 --verify "$T/s.pem" - \
    <"$T/p2"
grep -q '^\[GNUPG:\] BADSIG ' "$T/ef.out" || fail "BADSIG"
printf 'not a signature\n' >"$T/junk"
expect_fail 1 'malformed signature' p11-gitsign --verify "$T/junk" - <"$T/p"
expect_fail 2 'needs the signed data' p11-gitsign --verify "$T/s.pem"
expect_fail 2 'give either' p11-gitsign -u alice
expect_fail 2 'not an open file descriptor' p11-gitsign --status-fd=77 -bsau alice
expect_fail 2 'cannot load the trust anchors' p11-gitsign --CAfile "$T/none" \
    --verify "$T/s.pem" - <"$T/p"
p11 gitsign --help | grep -q -- '--verify SIGFILE' || fail "p11 gitsign --help"
p11-gitsign --help | grep -q '^usage: p11 gitsign' || fail "p11-gitsign --help"
p11 help gitsign >/dev/null || fail "p11 help gitsign"
p11 --help | grep -q '^  gitsign ' || fail "p11 --help lacks gitsign"
pass "direct use, exit codes and --help"
