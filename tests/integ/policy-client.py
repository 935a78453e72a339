#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
"""policy-client.py - raw key operations for the policy, audit and
fairness tests, on noiseclient.py's independent implementation of the
protocol (docs/PROTOCOL.md). It sends what the p11 CLI would refuse to
send (a key the client cannot list, pipelined batches, floods) and
reports each reply as "ok" or "fail CODE MESSAGE", one line each.

usage: policy-client.py SOCKET AGENT_PUB CLIENT_KEY|- MODE [args...]
  sign KEYID [N [DESCRIPTION]]   N pipelined ECDSA-SHA256 (or RSA PKCS#1
                                 SHA-256, by the key) signatures of
                                 random digests; SIGN2 with a description
  list                           the key ids LIST_KEYS shows, one a line
  flood KEYID TOTAL WINDOW FLOODER_KEY VICTIM_KEY MARKER_KEYID AUDIT_LOG
                                 the flooder keeps WINDOW signatures in
                                 flight, TOTAL in all; meanwhile the victim
                                 asks for one signature, three times, each
                                 right after one its rules deny (MARKER);
                                 from the audit log, prints how many of
                                 the flooder's operations came between
                                 that denial and the victim's signature
  burst KEYID CONNS N            CONNS connections each send N at once,
                                 then one more connection sends one;
                                 prints the counts of ok and busy and the
                                 last connection's result
"""
import base64
import json
import os
import select
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noiseclient as nc  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import (  # noqa: E402
    X25519PrivateKey)

SIGN, LIST_KEYS, SIGN2 = 3, 2, 19
ALG_RSA_PKCS1_SHA256, ALG_ECDSA_SHA256 = 1, 7
OK, FAILURE = 0x80, 0x81


def load_static(path):
    if path == "-":
        return X25519PrivateKey.generate()
    raw = base64.b64decode(open(path).read().split()[0])
    return X25519PrivateKey.from_private_bytes(raw)


def connect(path, pub, static, name="policy-client"):
    c = nc.Conn(path, pub, static=static, timeout=120)
    r, _ = c.handshake(name=name)
    if r != 0:
        print("fail %d handshake" % r)
        sys.exit(0)
    return c


def sign_body(keyid, alg, desc=None):
    body = nc.string(keyid) + struct.pack(">I", alg) + nc.string(os.urandom(32))
    if desc is not None:
        body += nc.cstring(desc)
    return body


def decode(typ, body):
    if typ == OK:
        return "ok"
    code = struct.unpack(">I", body[:4])[0]
    (ml,) = struct.unpack(">I", body[4:8])
    return "fail %d %s" % (code, body[8:8 + ml].decode(errors="replace"))


def list_keys(c):
    """Key ids and types (1 RSA, 2 EC) that LIST_KEYS shows, all pages."""
    out, start, rid = [], 0, 1
    while True:
        c.send_req(rid, LIST_KEYS, struct.pack(">I", start))
        _, typ, body = c.recv_reply()
        if typ != OK:
            raise SystemExit(decode(typ, body))
        total, count = struct.unpack(">II", body[:8])
        p = 8
        for _ in range(count):
            (n,) = struct.unpack(">I", body[p:p + 4])
            kid = body[p + 4:p + 4 + n]
            p += 4 + n
            for _ in range(3):          # label, token label, serial
                (n,) = struct.unpack(">I", body[p:p + 4])
                p += 4 + n
            ktype = body[p]
            p += 1 + 4                  # type, bits
            (n,) = struct.unpack(">I", body[p:p + 4])
            p += 4 + n + 4              # curve, operations
            for _ in range(3):          # spki, certificate, cka_id
                (n,) = struct.unpack(">I", body[p:p + 4])
                p += 4 + n
            (n,) = struct.unpack(">I", body[p:p + 4])
            p += 4 + n                  # uri
            out.append((kid, ktype))
        start += count
        rid += 1
        if start >= total or count == 0:
            return out


def alg_for(c, keyid):
    for kid, ktype in list_keys(c):
        if kid == keyid:
            return ALG_RSA_PKCS1_SHA256 if ktype == 1 else ALG_ECDSA_SHA256
    return ALG_ECDSA_SHA256     # not listed to us: the agent decides


def mode_sign(c, keyid, n, desc):
    alg = alg_for(c, keyid)
    typ = SIGN2 if desc is not None else SIGN
    burst = b""
    for i in range(n):
        burst += c.seal(struct.pack(">IB", 100 + i, typ) +
                        sign_body(keyid, alg, desc))
    c.sock.sendall(burst)
    got = {}
    for _ in range(n):
        rid, rtyp, body = c.recv_reply()
        got[rid] = decode(rtyp, body)
    for i in range(n):
        print(got[100 + i])


def recv_ready(conns, timeout=60):
    """The connections with a whole frame's worth of bytes waiting."""
    r, _, _ = select.select([x.sock for x in conns], [], [], timeout)
    if not r:
        raise SystemExit("fail timeout waiting for replies")
    return [x for x in conns if x.sock in r]


def mode_flood(path, pub, keyid, total, window, fkey, vkey, marker, log):
    """The order of events is the agent's own: its audit log."""
    f = connect(path, pub, load_static(fkey), "flooder")
    v = connect(path, pub, load_static(vkey), "victim")
    alg = alg_for(v, keyid)
    sent = replies = busy = 0
    digests = {}                # flooder digest -> request number
    probes, probe_at = [], [total // 4, total // 2, 3 * total // 4]

    def refill():
        nonlocal sent
        frames = b""
        while sent < total and sent - replies < window:
            d = os.urandom(32)
            digests[d.hex()] = sent
            frames += f.seal(struct.pack(">IB", 10000 + sent, SIGN) +
                             nc.string(keyid) + struct.pack(">I", alg) +
                             nc.string(d))
            sent += 1
        if frames:
            f.sock.sendall(frames)

    def flood_reply():
        nonlocal replies, busy
        _, typ, _ = f.recv_reply()
        replies += 1
        if typ != OK:
            busy += 1

    refill()
    while replies < sent:
        if probe_at and replies >= probe_at[0]:
            probe_at.pop(0)
            refill()
            # A request the rules deny (logged when it arrives), then
            # the real one, in one write: the denial's line marks the
            # moment the real request joined the queue.
            rid = 1000 + 2 * len(probes)
            v.sock.sendall(
                v.seal(struct.pack(">IB", rid, SIGN) + sign_body(marker, alg)) +
                v.seal(struct.pack(">IB", rid + 1, SIGN) +
                       sign_body(keyid, alg)))
            probes.append(sent)
            got = {}
            while len(got) < 2:
                if v in recv_ready([v, f]):
                    r, typ, body = v.recv_reply()
                    got[r] = decode(typ, body)
                else:
                    flood_reply()
            if not got[rid].startswith("fail 33 ") or got[rid + 1] != "ok":
                raise SystemExit("fail victim: %r" % got)
            continue
        flood_reply()
        refill()
    print("flooder %d requests, %d busy" % (sent, busy))
    lines = [json.loads(x) for x in open(log)]
    marks = [i for i, x in enumerate(lines)
             if x.get("client") == "victim" and x["result"] == "denied"]
    if len(marks) != len(probes):
        raise SystemExit("fail: %d markers in the log" % len(marks))
    for m, sent_then in zip(marks, probes):
        done = next(i for i in range(m + 1, len(lines))
                    if lines[i].get("client") == "victim" and
                    lines[i]["result"] == "ok")
        waited = sum(1 for x in lines[m + 1:done]
                     if x.get("client") == "flooder")
        # Sent before the victim's request, done after it arrived.
        ahead = sum(1 for x in lines[m + 1:]
                    if x.get("client") == "flooder" and x["op"] == "sign" and
                    digests[x["digest"]] < sent_then)
        print("victim waited for %d flooder operations (%d queued ahead)" %
              (waited, ahead))


def mode_burst(path, pub, keyid, nconns, n):
    conns = [connect(path, pub, X25519PrivateKey.generate(), "burst%d" % i)
             for i in range(nconns)]
    alg = alg_for(conns[0], keyid)
    for c in conns:
        frames = b"".join(c.seal(struct.pack(">IB", 500 + i, SIGN) +
                                 sign_body(keyid, alg)) for i in range(n))
        c.sock.sendall(frames)
    last = connect(path, pub, X25519PrivateKey.generate(), "latecomer")
    last.send_req(1, SIGN, sign_body(keyid, alg))
    ok = busy = other = 0
    busy_msgs = set()
    for c in conns:
        for _ in range(n):
            _, typ, body = c.recv_reply()
            res = decode(typ, body)
            if res == "ok":
                ok += 1
            elif res.startswith("fail 32 "):
                busy += 1
                busy_msgs.add(res[8:])
            else:
                other += 1
    _, typ, body = last.recv_reply()
    print("ok %d busy %d other %d" % (ok, busy, other))
    for m in sorted(busy_msgs):
        print("busy message: " + m)
    print("latecomer " + decode(typ, body))


def main():
    path, pubfile, keyfile, mode = sys.argv[1:5]
    args = sys.argv[5:]
    pub = nc.load_pub(pubfile)
    if mode == "flood":
        mode_flood(path, pub, bytes.fromhex(args[0]), int(args[1]),
                   int(args[2]), args[3], args[4], bytes.fromhex(args[5]),
                   args[6])
        return
    if mode == "burst":
        mode_burst(path, pub, bytes.fromhex(args[0]), int(args[1]),
                   int(args[2]))
        return
    c = connect(path, pub, load_static(keyfile))
    if mode == "list":
        for kid, _ in list_keys(c):
            print(kid.hex())
    elif mode == "sign":
        n = int(args[1]) if len(args) > 1 else 1
        desc = args[2] if len(args) > 2 else None
        mode_sign(c, bytes.fromhex(args[0]), n, desc)
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
