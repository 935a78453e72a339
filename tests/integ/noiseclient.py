#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
"""noiseclient.py - an independent client of the p11agent protocol.

Written from docs/PROTOCOL.md alone (Python's hashlib/hmac and the
`cryptography` package, no project code), so it checks that the C
implementation and the document agree. It also misbehaves on purpose:
garbage, oversized, tampered, replayed and reordered frames. Each mode
exits 0 when the agent reacted as PROTOCOL.md requires.

usage: noiseclient.py SOCKET AGENT_PUB_FILE MODE [args...]
  (idle-status FILE SECONDS: once FILE exists, the connection opened
  first, idle since, must be answered within SECONDS)
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey, X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

NAME = b"Noise_IK_25519_ChaChaPoly_BLAKE2b"
PROLOGUE = b"p11agent protocol 1" + b"\x01"
RAW = serialization.Encoding.Raw
PUBRAW = serialization.PublicFormat.Raw


def H(data):
    return hashlib.blake2b(data, digest_size=64).digest()


def HMAC(key, data):
    return hmac.new(key, data, hashlib.blake2b).digest()


def HKDF(ck, ikm, n=2):
    temp = HMAC(ck, ikm)
    o1 = HMAC(temp, b"\x01")
    o2 = HMAC(temp, o1 + b"\x02")
    return o1, o2


def nonce(n):
    return b"\0\0\0\0" + struct.pack("<Q", n)


def pub_bytes(priv):
    return priv.public_key().public_bytes(RAW, PUBRAW)


def dh(priv, pub):
    out = priv.exchange(X25519PublicKey.from_public_bytes(pub))
    if out == bytes(32):
        raise ValueError("dh: all-zero output")
    return out


def cstring(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b


def string(b):
    return struct.pack(">I", len(b)) + b


class Closed(Exception):
    pass


class Conn:
    def __init__(self, path, agent_pub, static=None, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.rs = agent_pub
        self.s = static or X25519PrivateKey.generate()
        self.sent = []

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            b = self.sock.recv(n - len(out))
            if not b:
                raise Closed()
            out += b
        return out

    def recv_frame(self):
        (n,) = struct.unpack(">I", self.recv_exact(4))
        return n, self.recv_exact(n)

    def send_frame(self, body):
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def handshake(self, name="noiseclient", version=1):
        h = NAME.ljust(64, b"\0")
        ck = h
        h = H(h + PROLOGUE)
        h = H(h + self.rs)
        e = X25519PrivateKey.generate()
        epub = pub_bytes(e)
        h = H(h + epub)
        ck, k = HKDF(ck, dh(e, self.rs))
        c = ChaCha20Poly1305(k[:32]).encrypt(nonce(0), pub_bytes(self.s), h)
        h = H(h + c)
        msg = epub + c
        ck, k = HKDF(ck, dh(self.s, self.rs))
        payload = struct.pack(">I", 0) + cstring(name)
        c = ChaCha20Poly1305(k[:32]).encrypt(nonce(0), payload, h)
        h = H(h + c)
        msg += c
        self.send_frame(bytes([version]) + msg)
        _, body = self.recv_frame()
        if body[0] != 0:
            return ("version", body)
        msg2 = body[1:]
        re = msg2[:32]
        h = H(h + re)
        ck, k = HKDF(ck, dh(e, re))
        ck, k = HKDF(ck, dh(self.s, re))
        c = msg2[32:]
        payload = ChaCha20Poly1305(k[:32]).decrypt(nonce(0), c, h)
        h = H(h + c)
        k1, k2 = HKDF(ck, b"")
        self.ks, self.kr = ChaCha20Poly1305(k1[:32]), ChaCha20Poly1305(k2[:32])
        self.ns = self.nr = 0
        self.h = h
        (result,) = struct.unpack(">I", payload[:4])
        (vl,) = struct.unpack(">I", payload[4:8])
        return (result, payload[8:8 + vl].decode())

    def seal(self, pt):
        hdr = struct.pack(">I", len(pt) + 16)
        frame = hdr + self.ks.encrypt(nonce(self.ns), pt, hdr)
        self.ns += 1
        return frame

    def send_req(self, rid, typ, body=b""):
        frame = self.seal(struct.pack(">IB", rid, typ) + body)
        self.sent.append(frame)
        self.sock.sendall(frame)

    def recv_reply(self):
        n, ct = self.recv_frame()
        pt = self.kr.decrypt(nonce(self.nr), ct, struct.pack(">I", n))
        self.nr += 1
        rid, typ = struct.unpack(">IB", pt[:5])
        return rid, typ, pt[5:]

    def expect_closed(self):
        """The agent must close this connection (EOF), not answer."""
        try:
            while True:
                b = self.sock.recv(4096)
                if not b:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def load_pub(path):
    line = open(path).read().split()[0]
    b = base64.b64decode(line)
    assert len(b) == 32
    return b


def fail(msg):
    print("noiseclient: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def good(path, pub):
    c = Conn(path, pub)
    r, v = c.handshake()
    if r != 0:
        fail("handshake result %r" % (r,))
    return c


def status_ok(c, rid=1):
    c.send_req(rid, 1)
    got, typ, body = c.recv_reply()
    if got != rid or typ != 0x80:
        fail("STATUS: id %d type %#x" % (got, typ))
    return body


def main():
    path, pubfile, mode = sys.argv[1:4]
    args = sys.argv[4:]
    pub = load_pub(pubfile)

    # A well-behaved connection stays open through every hostile mode and
    # must still be served afterwards.
    bystander = good(path, pub)
    status_ok(bystander, 100)

    if mode == "status":
        c = good(path, pub)
        body = status_ok(c)
        (vl,) = struct.unpack(">I", body[:4])
        print("agent version", body[4:4 + vl].decode())
    elif mode == "garbage":
        c = Conn(path, pub)
        c.sock.sendall(os.urandom(3000))
        if not c.expect_closed():
            fail("garbage did not close the connection")
    elif mode == "oversize":
        c = Conn(path, pub)
        c.sock.sendall(struct.pack(">I", 0x7fffffff) + b"x" * 100)
        if not c.expect_closed():
            fail("oversized frame did not close the connection")
    elif mode == "zero":
        c = Conn(path, pub)
        c.sock.sendall(struct.pack(">I", 0))
        if not c.expect_closed():
            fail("empty frame did not close the connection")
    elif mode == "badhello":
        c = Conn(path, pub)
        c.send_frame(b"\x01" + os.urandom(32 + 48 + 30))
        if not c.expect_closed():
            fail("forged hello did not close the connection")
    elif mode == "wrongkey":
        # Pinning a different agent key: message 1 cannot be opened.
        c = Conn(path, X25519PrivateKey.generate().public_key()
                 .public_bytes(RAW, PUBRAW))
        try:
            c.handshake()
            fail("handshake succeeded with the wrong agent key")
        except (Closed, ConnectionResetError):
            pass
    elif mode == "badversion":
        c = Conn(path, pub)
        r = c.handshake(version=9)
        if r[0] != "version" or r[1] != b"\x01\x01":
            fail("bad version reply %r" % (r,))
        if not c.expect_closed():
            fail("agent kept the connection after a version mismatch")
    elif mode in ("tamper", "replay", "reorder", "shortframe", "wrongdir"):
        c = good(path, pub)
        status_ok(c, 1)
        if mode == "tamper":
            f = bytearray(c.seal(struct.pack(">IB", 2, 1)))
            f[10] ^= 0x01
            c.sock.sendall(bytes(f))
        elif mode == "replay":
            c.sock.sendall(c.sent[0])
        elif mode == "reorder":
            f1 = c.seal(struct.pack(">IB", 2, 1))
            f2 = c.seal(struct.pack(">IB", 3, 1))
            c.sock.sendall(f2 + f1)
        elif mode == "shortframe":
            c.sock.sendall(struct.pack(">I", 5) + b"12345")
        elif mode == "wrongdir":
            # Sealed with the agent-to-client key: must not open.
            pt = struct.pack(">IB", 2, 1)
            hdr = struct.pack(">I", len(pt) + 16)
            c.sock.sendall(hdr + c.kr.encrypt(nonce(c.ns), pt, hdr))
        if not c.expect_closed():
            fail(mode + ": agent did not close the connection")
    elif mode == "badreq":
        c = good(path, pub)
        c.send_req(7, 99)
        rid, typ, body = c.recv_reply()
        code = struct.unpack(">I", body[:4])[0]
        if rid != 7 or typ != 0x81 or code != 30:
            fail("unknown type: %d %#x %d" % (rid, typ, code))
        # SIGN with a trailing byte: invalid format, connection stays.
        c.send_req(8, 3, string(bytes(32)) + struct.pack(">I", 1) +
                   string(bytes(32)) + b"\0")
        rid, typ, body = c.recv_reply()
        code = struct.unpack(">I", body[:4])[0]
        if rid != 8 or typ != 0x81 or code != 6:
            fail("trailing bytes: %d %#x %d" % (rid, typ, code))
        # SIGN with an unknown key id: typed error 14.
        c.send_req(9, 3, string(bytes(32)) + struct.pack(">I", 1) +
                   string(bytes(32)))
        rid, typ, body = c.recv_reply()
        code = struct.unpack(">I", body[:4])[0]
        if rid != 9 or typ != 0x81 or code != 14:
            fail("unknown key: %d %#x %d" % (rid, typ, code))
        status_ok(c, 10)
    elif mode == "pipeline":
        # N PINGs in one burst; every id comes back exactly once.
        n = int(args[0]) if args else 100
        c = good(path, pub)
        ids = set()
        burst = b""
        for i in range(n):
            pt = struct.pack(">IB", 1000 + i, 8) + string(b"ping%d" % i)
            burst += c.seal(pt)
        c.sock.sendall(burst)
        for _ in range(n):
            rid, typ, body = c.recv_reply()
            if typ != 0x80 or body[4:] != b"ping%d" % (rid - 1000):
                fail("pipelined reply %d wrong" % rid)
            ids.add(rid)
        if ids != set(range(1000, 1000 + n)):
            fail("pipelined ids differ")
    elif mode == "idle-status":
        # The bystander has been idle; when the file args[0] exists it
        # must be answered within args[1] seconds.
        while not os.path.exists(args[0]):
            time.sleep(0.01)
        t0 = time.monotonic()
        status_ok(bystander, 102)
        took = time.monotonic() - t0
        print("idle connection answered in %.3f s" % took)
        if took > float(args[1]):
            fail("idle connection answered in %.3f s" % took)
    elif mode == "unauthorized":
        c = Conn(path, pub)
        r, _ = c.handshake()
        if r != 12:
            fail("unauthorized client got result %r" % (r,))
        if not c.expect_closed():
            fail("agent kept an unauthorized connection")
    else:
        fail("unknown mode " + mode)

    if mode != "unauthorized":
        status_ok(bystander, 101)
    print("ok", mode)


if __name__ == "__main__":
    main()
