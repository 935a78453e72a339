#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
"""smime-edit.py - take S/MIME messages apart and put them together, for
the smime-* integration and interop tests (standard library only).

  split MSG CONTENT SIG.der     multipart/signed -> signed bytes, signature
  p7m MSG OUT.der               application/pkcs7-mime body -> DER
  setsig MSG SIG.der OUT        replace the signature (or .p7m body)
  flip IN.der OUT.der N         flip one bit N bytes before the end
  swapcert IN.der OLD.pem NEW.pem OUT.der
                                put NEW where OLD is (same DER length; the
                                serial in the SignerInfo's sid too, not
                                in the signed attributes)
  wrap KIND HDRS BODY OUT       an RFC 5322 message: the header fields of
                                HDRS, then BODY as KIND: "signed"
                                (BODY = CONTENT,SIG.der: multipart/signed),
                                "opaque" (signed-data DER), "enveloped" or
                                "authenveloped" (DER)
"""

import base64
import re
import ssl
import sys


def read(p):
    with open(p, "rb") as f:
        return f.read()


def write(p, data):
    with open(p, "wb") as f:
        f.write(data)


def boundary(msg):
    m = re.search(rb'boundary="?([^";\r\n]+)"?', msg, re.I)
    if not m:
        sys.exit("no boundary")
    return m.group(1)


def parts(msg):
    b = boundary(msg)
    body = msg.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in msg else \
        msg.split(b"\n\n", 1)[1]
    segs = re.split(rb"(?:\r?\n)?--" + re.escape(b) + rb"(?:--)?[ \t]*\r?\n",
                    b"\n" + body)
    return segs[1], segs[2]


def b64body(part):
    sep = b"\r\n\r\n" if b"\r\n\r\n" in part else b"\n\n"
    hdr, body = part.split(sep, 1)
    return hdr, base64.b64decode(b"".join(body.split()))


def b64lines(der):
    s = base64.b64encode(der)
    return b"\r\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + b"\r\n"


def split(msg, content, sig):
    m = read(msg)
    c, s = parts(m)
    write(content, c)
    write(sig, b64body(s)[1])


def p7m(msg, out):
    write(out, b64body(read(msg))[1])


def setsig(msg, sig, out):
    m = read(msg)
    der = read(sig)
    top = re.split(rb"\r?\n\r?\n", m, 1)[0]
    if re.search(rb"multipart/signed", top, re.I):
        b = boundary(m)
        i = m.rindex(b"--" + b + b"\r\n") + len(b) + 4
        k = m.index(b"\r\n\r\n", i) + 4
        j = m.index(b"--" + b + b"--", k)
        m = m[:k] + b64lines(der) + m[j:]
    else:
        m = top + b"\r\n\r\n" + b64lines(der)
    write(out, m)


def flip(inp, out, n):
    d = bytearray(read(inp))
    d[len(d) - int(n)] ^= 0x01
    write(out, bytes(d))


def pem_der(p):
    return ssl.PEM_cert_to_DER_cert(read(p).decode())


def serial_tlv(der):
    # Certificate -> TBSCertificate -> [0] version, INTEGER serial.
    def hdr(d, i):
        ln = d[i + 1]
        if ln < 0x80:
            return i + 2, ln
        n = ln & 0x7f
        return i + 2 + n, int.from_bytes(d[i + 2:i + 2 + n], "big")
    i, _ = hdr(der, 0)          # Certificate
    i, _ = hdr(der, i)          # TBSCertificate
    if der[i] == 0xa0:          # version
        j, ln = hdr(der, i)
        i = j + ln
    j, ln = hdr(der, i)         # serial INTEGER
    return der[i:j + ln]


def swapcert(inp, old, new, out):
    d = read(inp)
    o, n = pem_der(old), pem_der(new)
    if len(o) != len(n):
        sys.exit("certificates differ in length")
    so, sn = serial_tlv(o), serial_tlv(n)
    if len(so) != len(sn):
        sys.exit("serials differ in length")
    if o not in d:
        sys.exit("old certificate not in the signature")
    # The certificates come before the SignerInfo, whose sid has the
    # first remaining copy of the serial; the ESS attribute's copy is
    # signed and stays.
    d = d.replace(o, n).replace(so, sn, 1)
    write(out, d)


def wrap(kind, hdrs, body, out):
    h = read(hdrs).replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].rstrip(b"\n")
    h = b"\r\n".join(ln for ln in h.split(b"\n")
                     if not ln.lower().startswith(b"content-") and
                     not ln.lower().startswith(b"mime-version"))
    h += b"\r\nMIME-Version: 1.0\r\n"
    if kind == "signed":
        content, sig = body.split(",")
        c = read(content)
        b = b"----=_test_boundary_7"
        m = (h + b'Content-Type: multipart/signed; protocol="application/'
             b'pkcs7-signature"; micalg=sha-256; boundary="' + b + b'"\r\n'
             b"\r\n--" + b + b"\r\n" + c + b"\r\n--" + b + b"\r\n"
             b"Content-Type: application/pkcs7-signature; name=smime.p7s"
             b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
             b64lines(read(sig)) + b"\r\n--" + b + b"--\r\n")
    else:
        st = {"opaque": b"signed-data", "enveloped": b"enveloped-data",
              "authenveloped": b"authEnveloped-data"}[kind]
        m = (h + b"Content-Type: application/pkcs7-mime; smime-type=" + st +
             b'; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n'
             b"\r\n" + b64lines(read(body)))
    write(out, m)


def main():
    cmds = {"split": (split, 3), "p7m": (p7m, 2), "setsig": (setsig, 3),
            "flip": (flip, 3), "swapcert": (swapcert, 4), "wrap": (wrap, 4)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or \
            len(sys.argv) - 2 != cmds[sys.argv[1]][1]:
        sys.exit(__doc__)
    cmds[sys.argv[1]][0](*sys.argv[2:])


if __name__ == "__main__":
    main()
