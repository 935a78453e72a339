#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
"""mkcorpus-mime.py - writes the seed corpus of fuzz-mime (corpus/mime).

Messages in the shapes p11 smime meets: plain, 8-bit, multipart, signed,
opaque and encrypted S/MIME, address lists with every RFC 5322 construct,
and damaged variants. Run: python3 tests/fuzz/mkcorpus-mime.py.
Regenerating is a deliberate, reviewed change.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "mime")

HDR = (b"From: Alice Example <alice@bigcorp.example>\r\n"
       b"To: \"Example, Bob\" <bob@bigcorp.example>, carol@bigcorp.example "
       b"(Carol)\r\nCc: team: dave@bigcorp.example, <@relay:x@y.example>;\r\n"
       b"Bcc: undisclosed-recipients:;\r\n"
       b"Subject: seed\r\n folded\r\nDate: Mon, 1 Jan 2026 10:00:00 +0000\r\n")

SEEDS = {
    "plain": HDR + b"\r\nHello\r\n",
    "lf-8bit": HDR.replace(b"\r\n", b"\n") + b"\ngr\xc3\xbc\xc3\x9f\n",
    "multipart": HDR + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed;"
    b" boundary=\"b1\"\r\n\r\npre\r\n--b1\r\nContent-Type: text/plain; "
    b"charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xe2\x82\xac"
    b"\r\n--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n"
    b"--b2\r\n\r\nx\r\n--b2--\r\n--b1\r\nContent-Type: application/"
    b"octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n"
    b"--b1--\r\nepi\r\n",
    "signed": HDR + b"MIME-Version: 1.0\r\nContent-Type: multipart/signed; "
    b"protocol=\"application/pkcs7-signature\"; micalg=sha-256; "
    b"boundary=\"s\"\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
    b"--s\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nMIIBAAYJKoZIhvcNAQcCoA==\r\n"
    b"--s--\r\n",
    "opaque": HDR + b"Content-Type: application/pkcs7-mime; "
    b"smime-type=signed-data; name=\"smime.p7m\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCA\r\n",
    "enveloped": HDR + b"Content-Type: application/x-pkcs7-mime; "
    b"smime-type=authEnveloped-data\r\nContent-Transfer-Encoding: base64"
    b"\r\n\r\nMIAGCyqGSIb3DQEJEAEXoIA=\r\n",
    "unterminated": b"Content-Type: multipart/mixed; boundary=z\r\n\r\n"
    b"--z\r\n\r\nno end\r\n--z\r\n",
    "comments": b"From: (a (nested) comment) \"q\\\"uote\" <a@b> (x)\r\n"
    b"Content-Type: text/plain (c; boundary=x); charset=\"us\\\"ascii\"\r\n"
    b"\r\n",
    "bad-header": b" leading\r\nno colon\r\n\r\n",
    "bare-cr": b"Subject: x\r\n\r\na\rb\r\n",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
