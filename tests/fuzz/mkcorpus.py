#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
"""mkcorpus.py - writes the seed corpus for the fuzz targets.

Run from anywhere: python3 tests/fuzz/mkcorpus.py. The channel seeds use
the known-answer constants of tests/unit/test-channel.c (read from that
file), so valid seeds really decrypt in fuzz-channel.c, which uses the
same keys. Regenerating is a deliberate, reviewed change.
"""

import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = os.path.join(HERE, "..", "unit", "test-channel.c")


def kat_constants():
    text = open(UNIT).read()
    out = {}
    pat = (r'static\s+const\s+char\s+(kat_\w+)\[\]\s*=\s*'
           r'((?:\s*"[0-9a-fA-F]*")+)\s*;')
    for name, body in re.findall(pat, text):
        out[name] = bytes.fromhex("".join(re.findall(r'"([0-9a-fA-F]*)"',
                                                     body)))
    return out


def u8(v):
    return struct.pack(">B", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def string(b):
    return u32(len(b)) + b


def frame(body):
    return u32(len(body)) + body


def flip(b, i):
    b = bytearray(b)
    b[i] ^= 0x40
    return bytes(b)


def write(sub, name, data):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    ping = frame(u32(1) + u8(8) + string(b"ping"))
    sign = frame(u32(2) + u8(3) + string(bytes(range(32))) + u32(7) +
                 string(b"\xab" * 32))
    status = frame(u32(3) + u8(0x80) + string(b"0.1.0") + u8(0) + u32(1) +
                   b"".join(string(s) for s in (b"tok", b"0001", b"SoftHSM",
                                                b"model", b"/usr/lib/m.so")) +
                   u8(3) + u32(2))
    failure = frame(u32(4) + u8(0x81) + u32(14) + string(b"key not found"))
    write("buf", "ping-request", ping)
    write("buf", "sign-request", sign)
    write("buf", "status-reply", status)
    write("buf", "failure-reply", failure)
    write("buf", "two-frames", ping + sign)
    write("buf", "u64-fields", frame(u32(5) + u8(2) + u64(2**64 - 1) +
                                     u64(0) + u64(1)))
    write("buf", "cstring-nul", frame(u32(6) + u8(4) + string(b"ab\0c")))
    write("buf", "huge-length", frame(u32(7) + u8(3) + u32(0xffffffff) +
                                      b"abc"))
    write("buf", "oversize-frame", u32(65537) + b"xyz")
    write("buf", "zero-frame", u32(0) + ping)
    write("buf", "truncated-frame", u32(100) + b"0123456789")
    write("buf", "short-header", b"\x00\x00\x01")

    k = kat_constants()
    m1, m2 = k["kat_msg1"], k["kat_msg2"]
    c0, c1 = k["kat_frame_c2a_0"], k["kat_frame_c2a_1"]
    a0 = k["kat_frame_a2c_0"]
    write("channel", "msg1-valid", b"\x00" + m1)
    write("channel", "msg1-short", b"\x00" + m1[:95])
    write("channel", "msg1-zero-e", b"\x00" + bytes(96))
    write("channel", "msg1-flipped-s", b"\x00" + flip(m1, 40))
    write("channel", "msg1-flipped-payload", b"\x00" + flip(m1, len(m1) - 1))
    write("channel", "msg2-valid", b"\x01" + m2)
    write("channel", "msg2-flipped-e", b"\x01" + flip(m2, 0))
    write("channel", "msg2-short", b"\x01" + m2[:47])
    write("channel", "frames-c2a-valid", b"\x02" + c0 + c1)
    write("channel", "frames-c2a-replayed", b"\x02" + c0 + c0)
    write("channel", "frames-c2a-reordered", b"\x02" + c1 + c0)
    write("channel", "frames-c2a-truncated", b"\x02" + c0[:-1])
    write("channel", "frames-c2a-flipped-length", b"\x02" + flip(c0, 3))
    write("channel", "frame-a2c-valid", b"\x03" + a0)
    write("channel", "frame-a2c-reflected", b"\x03" + c0)


if __name__ == "__main__":
    main()
