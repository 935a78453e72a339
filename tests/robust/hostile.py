#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
"""hostile.py - hostile and faulty clients of the p11agent protocol.

Builds on tests/integ/noiseclient.py (the independent implementation of
docs/PROTOCOL.md). Each mode exits 0 when the agent reacted as the
protocol requires, and prints one summary line.

usage: hostile.py SOCKET AGENT_PUB_FILE MODE [args...]
  frames N [SEED]  N random and mutated frames: sealed random requests
                   (each must get exactly one well-formed reply with its
                   id, the connection staying open), garbage and mutated
                   hellos before the handshake, and tampered, truncated,
                   replayed, reordered and wrong-direction sealed frames
                   after it (each must close the connection)
  slow             a hello sent one byte per second: the agent must
                   close the connection by its handshake deadline
  churn N          N connections opened and dropped: at once, halfway
                   through the hello, after the handshake, and with
                   requests in flight (signatures not yet answered)
"""
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integ"))
import noiseclient as nc  # noqa: E402

HANDSHAKE_TIMEOUT = 10  # PROTOCOL.md section 2


def fail(msg):
    nc.fail(msg)


def closed(c, timeout=5):
    c.sock.settimeout(timeout)
    return c.expect_closed()


def hello_bytes(pub, rng):
    """A valid hello frame from a fresh client (not sent)."""
    frames = []

    class Capture(nc.Conn):
        def __init__(self):
            self.rs = pub
            self.s = nc.X25519PrivateKey.generate()
            self.sent = []

        def send_frame(self, body):
            frames.append(struct.pack(">I", len(body)) + body)
            raise nc.Closed()

    try:
        Capture().handshake()
    except nc.Closed:
        pass
    return frames[0]


def list_key_ids(path, pub):
    c = nc.good(path, pub)
    c.send_req(1, 2, struct.pack(">I", 0))
    rid, typ, body = c.recv_reply()
    if typ != 0x80:
        fail("LIST_KEYS failed")
    total, count = struct.unpack(">II", body[:8])
    ids, off = [], 8
    for _ in range(count):
        (n,) = struct.unpack(">I", body[off:off + 4])
        ids.append(body[off + 4:off + 4 + n])
        off += 4 + n
        # Skip the rest of the entry: 3 cstrings, u8, u32, cstring, u32,
        # 3 strings, cstring.
        for kind in ("s", "s", "s", "b", "i", "s", "i", "s", "s", "s", "s"):
            if kind == "b":
                off += 1
            elif kind == "i":
                off += 4
            else:
                (n,) = struct.unpack(">I", body[off:off + 4])
                off += 4 + n
    c.sock.close()
    return ids


def check_reply(rid, typ, body, want):
    if rid != want:
        fail("reply id %d for request %d" % (rid, want))
    if typ == 0x81:
        if len(body) < 8:
            fail("short FAILURE body")
        code, n = struct.unpack(">II", body[:8])
        if code == 0 or n > 256 or len(body) != 8 + n or b"\0" in body[8:]:
            fail("malformed FAILURE body %r" % body)
    elif typ != 0x80:
        fail("reply type %#x" % typ)


def random_request(rng, ids):
    """A plaintext request: random, or a valid one mutated."""
    k = rng.choice(ids) if ids else bytes(32)
    valid = [
        (1, b""),
        (2, struct.pack(">I", rng.randrange(0, 6))),
        (3, nc.string(k) + struct.pack(">I", rng.choice([1, 4, 7, 8])) +
         nc.string(os.urandom(rng.choice([20, 32, 48, 64])))),
        (4, nc.string(k) + struct.pack(">I", rng.choice([16, 17, 18])) +
         nc.string(os.urandom(rng.choice([0, 1, 256, 384])))),
        (5, nc.string(k) + nc.string(b"\x04" + os.urandom(64))),
        (8, nc.string(os.urandom(rng.randrange(0, 1100)))),
    ]
    typ, body = rng.choice(valid)
    r = rng.random()
    if r < 0.2:
        typ = rng.choice([0, 9, 10, 99, 0x80, 0x81, 255])
    elif r < 0.4 and body:
        b = bytearray(body)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        body = bytes(b)
    elif r < 0.55 and body:
        body = body[:rng.randrange(len(body))]
    elif r < 0.7:
        body = body + os.urandom(rng.randrange(1, 8))
    elif r < 0.75:
        body = os.urandom(rng.randrange(0, 2000))
    # Never LOCK or UNLOCK: the bystanders must keep a logged-in agent.
    if typ in (6, 7):
        typ = 8
    return typ, body


def sealed_requests(path, pub, n, rng, ids):
    c = nc.good(path, pub)
    rid = 1
    while n > 0:
        batch = min(n, 32)
        want, burst = [], b""
        for _ in range(batch):
            typ, body = random_request(rng, ids)
            pt = struct.pack(">IB", rid, typ) + body
            if len(pt) > 65536 - 16:
                pt = pt[:65536 - 16]
            burst += c.seal(pt)
            want.append(rid)
            rid += 1
        c.sock.sendall(burst)
        got = {}
        for _ in range(batch):
            r, typ, body = c.recv_reply()
            if r in got:
                fail("two replies for request %d" % r)
            got[r] = (typ, body)
        for w in want:
            if w not in got:
                fail("no reply for request %d" % w)
            check_reply(w, got[w][0], got[w][1], w)
        n -= batch
    nc.status_ok(c, rid)
    c.sock.close()


def garbage_hello(path, pub, rng):
    c = nc.Conn(path, pub)
    hello = hello_bytes(pub, rng)
    r = rng.random()
    if r < 0.3:
        body = os.urandom(rng.randrange(1, 300))
        data = struct.pack(">I", len(body)) + body
    elif r < 0.6:
        b = bytearray(hello)
        for _ in range(rng.randrange(1, 4)):
            # Flip a bit after the length header and the version byte.
            b[rng.randrange(5, len(b))] ^= 1 << rng.randrange(8)
        data = bytes(b)
    elif r < 0.8:
        data = struct.pack(">I", rng.choice([0, 65537, 0xffffffff,
                                             rng.randrange(200, 65536)]))
        data += os.urandom(rng.randrange(0, 64))
        if struct.unpack(">I", data[:4])[0] in range(1, 65537):
            # A length promised but never delivered: close by deadline;
            # shorten the wait by making the frame complete and bad.
            need = struct.unpack(">I", data[:4])[0] - (len(data) - 4)
            data += os.urandom(max(need, 0))
    else:
        b = bytearray(hello)
        b[4] = rng.choice([0, 2, 0xff])  # unsupported version
        data = bytes(b)
        c.sock.sendall(data)
        c.sock.settimeout(5)
        try:
            _, body = c.recv_frame()
            if body[:1] != b"\x01":
                fail("bad version: reply %r" % body)
        except (nc.Closed, ConnectionResetError):
            pass
        if not closed(c):
            fail("agent kept a connection after a bad version")
        c.sock.close()
        return
    try:
        c.sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        c.sock.close()
        return
    if not closed(c):
        fail("agent kept a connection after a hostile hello %r" % data[:16])
    c.sock.close()


def bad_sealed(path, pub, rng):
    c = nc.good(path, pub)
    nc.status_ok(c, 1)
    r = rng.random()
    f1 = c.seal(struct.pack(">IB", 2, 1))
    f2 = c.seal(struct.pack(">IB", 3, 1))
    if r < 0.3:
        b = bytearray(f1)
        b[rng.randrange(4, len(b))] ^= 1 << rng.randrange(8)
        data = bytes(b)
    elif r < 0.45:
        data = c.sent[0]                # replayed
    elif r < 0.6:
        data = f2 + f1                  # reordered
    elif r < 0.7:
        b = bytearray(f1)               # length header changed
        b[3] ^= 1 << rng.randrange(3)
        data = bytes(b)
        n = struct.unpack(">I", data[:4])[0]
        data = data[:4 + n] if n < len(data) - 4 else \
            data + os.urandom(n - (len(data) - 4))
    elif r < 0.8:
        pt = struct.pack(">IB", 2, 1)   # agent-to-client key
        hdr = struct.pack(">I", len(pt) + 16)
        data = hdr + c.kr.encrypt(nc.nonce(c.ns), pt, hdr)
    elif r < 0.9:
        n = rng.randrange(1, 16)        # shorter than a tag
        data = struct.pack(">I", n) + os.urandom(n)
    else:
        n = rng.randrange(17, 200)      # random ciphertext
        data = struct.pack(">I", n) + os.urandom(n)
    try:
        c.sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        c.sock.close()
        return
    if not closed(c):
        fail("agent kept a connection after a bad sealed frame")
    c.sock.close()


def mode_frames(path, pub, n, seed):
    rng = random.Random(seed)
    ids = list_key_ids(path, pub)
    n_sealed = n // 2
    n_hello = n // 4
    n_bad = n - n_sealed - n_hello
    t0 = time.time()
    per_conn = 500
    done = 0
    while done < n_sealed:
        k = min(per_conn, n_sealed - done)
        sealed_requests(path, pub, k, rng, ids)
        done += k
    for _ in range(n_hello):
        garbage_hello(path, pub, rng)
    for _ in range(n_bad):
        bad_sealed(path, pub, rng)
    print("hostile frames: %d sealed random requests answered, %d hostile "
          "hellos and %d bad sealed frames closed, %.1f s"
          % (n_sealed, n_hello, n_bad, time.time() - t0))


def mode_slow(path, pub):
    rng = random.Random(1)
    c = nc.Conn(path, pub, timeout=HANDSHAKE_TIMEOUT + 10)
    hello = hello_bytes(pub, rng)
    t0 = time.time()
    sent = 0
    try:
        for b in hello:
            c.sock.sendall(bytes([b]))
            sent += 1
            c.sock.settimeout(1.0)
            try:
                if c.sock.recv(1) == b"":
                    break
            except socket.timeout:
                pass
            if time.time() - t0 > HANDSHAKE_TIMEOUT + 5:
                fail("slow client still connected after %.0f s"
                     % (time.time() - t0))
    except (BrokenPipeError, ConnectionResetError):
        pass
    dt = time.time() - t0
    if sent >= len(hello):
        fail("the whole hello went out, one byte a second")
    if dt > HANDSHAKE_TIMEOUT + 3:
        fail("slow client dropped after %.1f s" % dt)
    print("slow client: dropped after %.1f s and %d bytes" % (dt, sent))


def mode_churn(path, pub, n):
    rng = random.Random(2)
    ids = list_key_ids(path, pub)
    t0 = time.time()
    counts = [0, 0, 0, 0]
    for i in range(n):
        kind = i % 8
        if kind < 4:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.close()
            counts[0] += 1
        elif kind < 6:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            h = hello_bytes(pub, rng)
            s.sendall(h[:rng.randrange(1, len(h))])
            s.close()
            counts[1] += 1
        elif kind == 6:
            c = nc.good(path, pub)
            c.sock.close()
            counts[2] += 1
        else:
            # Requests in flight, then gone without reading a reply.
            c = nc.good(path, pub)
            burst = b""
            for j in range(rng.randrange(1, 64)):
                k = rng.choice(ids)
                body = nc.string(k) + struct.pack(">I", 1) + \
                    nc.string(os.urandom(32))
                burst += c.seal(struct.pack(">IB", j, 3) + body)
            c.sock.sendall(burst)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack("ii", 1, 0))
            c.sock.close()
            counts[3] += 1
    print("churn: %d connections (%d dropped at once, %d mid-hello, %d "
          "after the handshake, %d with requests in flight), %.1f s"
          % (n, counts[0], counts[1], counts[2], counts[3],
             time.time() - t0))


def main():
    path, pubfile, mode = sys.argv[1:4]
    args = sys.argv[4:]
    pub = nc.load_pub(pubfile)
    bystander = nc.good(path, pub)
    nc.status_ok(bystander, 100)
    if mode == "frames":
        mode_frames(path, pub, int(args[0]), int(args[1]) if len(args) > 1
                    else 1)
    elif mode == "slow":
        mode_slow(path, pub)
    elif mode == "churn":
        mode_churn(path, pub, int(args[0]))
    else:
        fail("unknown mode " + mode)
    nc.status_ok(bystander, 101)


if __name__ == "__main__":
    main()
