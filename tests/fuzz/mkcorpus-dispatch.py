#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
"""mkcorpus-dispatch.py - seeds for fuzz-dispatch and fuzz-client-reply.

fuzz-dispatch input: byte state (bit 0 logged in, bit 1 the PIN source
is readable, bit 2 idle lock, bit 3 trust mode, bits 4-5 its client:
ci-signer, mail gateway, alice-laptop, unlisted; bit 6 --confirm
label:p256), then records: byte ctl, uint16 length, request plaintext
(uint32 id, byte type, body). The fake token's key i has the id
bytes([0x11 * (i + 1)] * 32): RSA-2048, RSA-3072, P-256, P-384 (see
fuzz-dispatch.c; their labels and certificates in trust mode in
fuzz-dispatch-trust.c).

fuzz-client-reply input: byte operation, then records: byte ctl,
uint16 length, reply plaintext after the id (byte type, body); see
fuzz-client-reply.c. Regenerating is a deliberate, reviewed change.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v):
    return struct.pack(">B", v)


def u32(v):
    return struct.pack(">I", v)


def string(b):
    return u32(len(b)) + b


def cstring(s):
    return string(s.encode())


def key(i):
    return bytes([0x11 * (i + 1)] * 32)


def req(rid, typ, body=b""):
    return u32(rid) + u8(typ) + body


def rec(ctl, data):
    return u8(ctl) + struct.pack(">H", len(data)) + data


def write(sub, name, data):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def dispatch():
    s = lambda i, a, n: req(i, 3, string(key(i % 4)) + u32(a) + string(b"\x01" * n))
    write("dispatch", "status", u8(1) + rec(0, req(1, 1)))
    write("dispatch", "status-trailing", u8(1) + rec(0, req(1, 1, b"x")))
    write("dispatch", "list-keys", u8(1) + rec(0, req(7, 2, u32(0))) +
          rec(0, req(8, 2, u32(3))) + rec(0, req(9, 2, u32(5))))
    write("dispatch", "sign-all", u8(1) +
          rec(0, req(0, 3, string(key(0)) + u32(1) + string(b"\1" * 32))) +
          rec(0, req(1, 3, string(key(1)) + u32(5) + string(b"\2" * 48))) +
          rec(0, req(2, 3, string(key(2)) + u32(7) + string(b"\3" * 32))) +
          rec(1, req(3, 3, string(key(3)) + u32(9) + string(b"\4" * 64))))
    write("dispatch", "sign-bad", u8(1) +
          rec(0, req(1, 3, string(key(0)) + u32(1) + string(b"\1" * 31))) +
          rec(0, req(2, 3, string(key(2)) + u32(1) + string(b"\1" * 32))) +
          rec(0, req(3, 3, string(b"\0" * 32) + u32(7) + string(b"\1" * 32))) +
          rec(0, req(4, 3, string(key(2))[:20])))
    write("dispatch", "sign-locked", u8(0) +
          rec(0, req(1, 3, string(key(2)) + u32(7) + string(b"\1" * 32))))
    write("dispatch", "decrypt", u8(1) +
          rec(0, req(1, 4, string(key(0)) + u32(18) + string(b"\5" * 256))) +
          rec(6, req(2, 4, string(key(0)) + u32(16) + string(b""))) +
          rec(7, req(3, 4, string(key(1)) + u32(17) + string(b"\5" * 384))))
    write("dispatch", "derive", u8(1) +
          rec(0, req(1, 5, string(key(2)) + string(b"\4" + b"\7" * 64))) +
          rec(0, req(2, 5, string(key(3)) + string(b"\4" + b"\7" * 96))) +
          rec(1, req(3, 5, string(key(2)) + string(b"\2" + b"\7" * 32))))
    write("dispatch", "lock-unlock", u8(3) + rec(0, req(1, 6)) +
          rec(0, req(2, 7, string(b"0000"))) +
          rec(8, req(3, 7, string(b"1234"))) +
          rec(0, req(4, 7, string(b""))) +
          rec(0, req(5, 7, string(b"12\x0034"))))
    write("dispatch", "idle-lock", u8(5) + rec(8, req(1, 8, string(b"hi"))) +
          rec(16, req(2, 3, string(key(2)) + u32(7) + string(b"\1" * 32))))
    write("dispatch", "ping-unknown", u8(1) + rec(0, req(1, 8, string(b"x" * 100))) +
          rec(0, req(2, 99)) + rec(0, req(3, 8, string(b"x" * 1025))) +
          rec(0, req(4, 8, string(b"x") + b"tail")))
    write("dispatch", "short-header", u8(1) + rec(0, b"\0\0\0"))
    write("dispatch", "pipelined", u8(1) +
          b"".join(rec(0, s(i, [1, 4, 7, 9][i % 4], [32, 32, 32, 48][i % 4]))
                   for i in range(130)))
    trust_dispatch()


def trust_dispatch():
    """Trust mode: state bit 3, the client in bits 4-5, --confirm bit 6."""
    TRUST, CONFIRM = 8, 64
    def st(client, extra=0):
        return u8(1 | TRUST | client << 4 | extra)
    sign = lambda rid, k, a, n: req(rid, 3, string(key(k)) + u32(a) +
                                    string(b"\1" * n))
    sign2 = lambda rid, k, a, n, d: req(rid, 19, string(key(k)) + u32(a) +
                                        string(b"\1" * n) + cstring(d))
    dec = lambda rid, k: req(rid, 4, string(key(k)) + u32(18) +
                             string(b"\5" * 256))
    der = lambda rid, k, n: req(rid, 5, string(key(k)) +
                                string(b"\4" + b"\7" * n))
    lst = lambda rid: req(rid, 2, u32(0))
    # ci-signer: key 0 by id, key 3 by label, sign only, 3 per input.
    write("dispatch", "trust-ci-signer", st(0) + rec(0, lst(1)) +
          rec(0, sign(2, 0, 1, 32)) + rec(0, sign(3, 3, 9, 64)) +
          rec(0, sign(4, 1, 5, 48)) + rec(0, sign(5, 2, 7, 32)) +
          rec(0, dec(6, 0)) + rec(1, sign(7, 0, 1, 32)) +
          rec(0, sign(8, 0, 1, 32)) + rec(1, sign2(9, 3, 9, 64, "release")))
    # The mail gateway: keys by certificate e-mail, decrypt and derive.
    write("dispatch", "trust-mail-gateway", st(1) + rec(0, lst(1)) +
          rec(0, dec(2, 0)) + rec(0, der(3, 2, 64)) + rec(0, sign(4, 0, 1, 32)) +
          rec(0, dec(5, 1)) + rec(0, der(6, 3, 96)) +
          rec(7, req(7, 20, string(key(0)) + u32(18) + string(b"\5" * 256) +
                     cstring("mail \"x\"\x01\\ \u00e9"))))
    # alice: everything, after a yes (ctl bit 5: a no).
    write("dispatch", "trust-confirm", st(2) + rec(0, lst(1)) +
          rec(0, sign2(2, 2, 7, 32, "git commit")) + rec(0, der(3, 2, 64)) +
          rec(1, dec(4, 0)) + rec(0, sign(5, 1, 5, 48)) +
          rec(33, sign2(6, 3, 9, 64, "refused")) +
          rec(0, req(7, 6)) + rec(0, req(8, 7, string(b"1234"))))
    # A key no longer listed: LIST_KEYS and every operation denied.
    write("dispatch", "trust-unlisted", st(3) + rec(0, lst(1)) +
          rec(0, sign(2, 0, 1, 32)) + rec(0, dec(3, 0)) +
          rec(0, der(4, 2, 64)) + rec(0, req(5, 1)) + rec(0, req(6, 6)))
    # --confirm label:p256 for ci-signer and the gateway; idle lock.
    write("dispatch", "trust-confirm-option", st(0, CONFIRM | 4) +
          rec(0, sign(1, 0, 1, 32)) + rec(0, sign(2, 2, 7, 32)) +
          rec(8, sign(3, 3, 9, 64)) + rec(17, sign(4, 0, 1, 32)))
    write("dispatch", "trust-confirm-gateway", st(1, CONFIRM) +
          rec(0, der(1, 2, 64)) + rec(32, dec(2, 0)) + rec(33, der(3, 2, 64)))
    # Locked: the lock comes before the rules.
    write("dispatch", "trust-locked", u8(TRUST | 2 << 4) +
          rec(0, sign(1, 0, 1, 32)) + rec(0, req(2, 7, string(b""))) +
          rec(1, sign(3, 0, 1, 32)))


def client_reply():
    ok, fail = 0x80, 0x81
    rsa = (string(key(0)) + cstring("alice") + cstring("tok") +
           cstring("0001") + u8(1) + u32(2048) + cstring("") + u32(3) +
           string(b"\x30" * 40) + string(b"") + string(b"\1") +
           cstring("pkcs11:token=tok;id=%01"))
    ec = (string(key(2)) + cstring("carol") + cstring("tok") +
          cstring("0001") + u8(2) + u32(256) + cstring("P-256") + u32(5) +
          string(b"\x30" * 40) + string(b"\x30\x03\x02\x01\x00") +
          string(b"\3") + cstring("pkcs11:token=tok;id=%03"))
    tokinfo = (cstring("tok") + cstring("0001") + cstring("SoftHSM") +
               cstring("model") + cstring("/usr/lib/softhsm.so") + u8(3) +
               u32(4))
    write("client-reply", "status",
          u8(0) + rec(0, u8(ok) + cstring("0.1.0") + u8(0) + u32(1) + tokinfo))
    write("client-reply", "status-failure",
          u8(0) + rec(0, u8(fail) + u32(23) + cstring("agent is locked")))
    write("client-reply", "list-keys",
          u8(1) + rec(0, u8(ok) + u32(2) + u32(2) + rsa + ec))
    write("client-reply", "list-keys-paged",
          u8(1) + rec(0, u8(ok) + u32(2) + u32(1) + rsa) +
          rec(0, u8(ok) + u32(2) + u32(1) + ec))
    write("client-reply", "sign", u8(2) + rec(0, u8(ok) + string(b"\x30" * 70)))
    write("client-reply", "decrypt", u8(3) + rec(0, u8(ok) + string(b"k" * 32)))
    write("client-reply", "decrypt-failed",
          u8(3) + rec(0, u8(fail) + u32(24) + cstring("decryption failed")))
    write("client-reply", "derive", u8(4) + rec(0, u8(ok) + string(b"z" * 32)))
    write("client-reply", "sign-many",
          u8(5) + rec(0, u8(ok) + string(b"s" * 64)) +
          rec(0, u8(ok) + string(b"t" * 64)) +
          rec(0, u8(fail) + u32(32) + cstring("busy")))
    write("client-reply", "duplicate",
          u8(5) + rec(0, u8(ok) + string(b"s" * 64)) +
          rec(1, u8(ok) + string(b"t" * 64)))
    write("client-reply", "ping", u8(6) + rec(0, u8(ok) + string(b"p11agent ping")))
    write("client-reply", "lock", u8(7) + rec(0, u8(ok)))
    write("client-reply", "wrong-id", u8(2) + rec(2, u8(ok) + string(b"x")))
    write("client-reply", "raw-frame", u8(0) + rec(4, b"\0\0\0\5hello"))


if __name__ == "__main__":
    dispatch()
    client_reply()
