#!/bin/sh
# SPDX-License-Identifier: ISC
# The bytes the client writes to and reads from the socket never contain
# the digest, the signature, the wrapped or the unwrapped key in clear
# (strace records every byte that crosses the socket).
. "$(dirname "$0")/lib.sh"
use_shared_agent
command -v strace >/dev/null || skip "strace missing"

hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }
openssl rand 32 >"$T/digest"
d=$(hexof "$T/digest")
strace -f -qq -yy -xx -s 1000000 -e trace=write,writev,sendto,sendmsg,read,recvfrom,recvmsg \
    -o "$T/trace" p11 sign --key alice --alg rsa-pkcs1-sha256 --digest "$d" \
    --out "$T/sig"
pub=$(pubkey alice)
openssl pkeyutl -verify -pubin -inkey "$pub" -in "$T/digest" -sigfile "$T/sig" \
    -pkeyopt digest:sha256 >/dev/null || fail "traced signature invalid"

openssl rand 32 >"$T/key"
openssl pkeyutl -encrypt -pubin -inkey "$pub" -in "$T/key" -out "$T/wrapped"
strace -f -qq -yy -xx -s 1000000 -e trace=write,writev,sendto,sendmsg,read,recvfrom,recvmsg \
    -o "$T/trace2" p11 decrypt --key alice --alg rsa-pkcs1 --in "$T/wrapped" \
    --out "$T/unwrapped"
cmp -s "$T/key" "$T/unwrapped" || fail "traced unwrap wrong"

# strace -yy names each fd; -xx prints every byte as \xNN. Socket lines
# must not hold any 16-byte window of a secret; as a control, the same
# detector must find the signature in the write to the --out file.
/usr/bin/python3 - "$T" <<'PY' || fail "secret bytes seen in clear on the socket"
import re, sys
T = sys.argv[1]
def blobs(trace):
    sock, other = b"", b""
    for line in open(trace):
        m = re.search(r'\w+\((\d+)<(.*?)>, "((?:\\x[0-9a-f]{2})*)"', line)
        if not m:
            continue
        data = bytes.fromhex(m.group(3).replace("\\x", ""))
        if m.group(2).startswith(("UNIX", "socket")):
            sock += data
        else:
            other += data
    return sock, other
def seen(blob, secret):
    return any(secret[i:i + 16] in blob for i in range(len(secret) - 15))
s1, o1 = blobs(f"{T}/trace")
s2, o2 = blobs(f"{T}/trace2")
rd = lambda n: open(f"{T}/{n}", "rb").read()
assert len(s1) > 100 and len(s2) > 100, "no socket traffic traced"
assert seen(o1, rd("sig")), "control: detector misses the --out write"
bad = [n for blob, n in ((s1, "digest"), (s1, "sig"), (s2, "key"),
                          (s2, "wrapped"), (s2, "unwrapped")) if seen(blob, rd(n))]
if bad:
    print("in clear on the socket:", bad); sys.exit(1)
PY
pass "nothing secret in clear on the socket"
