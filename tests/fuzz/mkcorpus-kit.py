#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The p11agent authors
"""mkcorpus-kit.py - writes the seed corpus of fuzz-kit (corpus/kit).

fuzz-kit input: records of byte ctl (bits 0-1: module, uri, match,
keyuri; bit 2: the answer is the rest of the input; bit 3: 32736 bytes
of "61" after the answer's first space; bit 4: empty request strings),
then the helper's answer up to its LF; see fuzz-kit.c. The valid answers
are what p11agent-p11kit prints (agent/kit-helper.c) for a SoftHSM
token. Run: python3 tests/fuzz/mkcorpus-kit.py. Regenerating is a
deliberate, reviewed change.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "kit")

MODULE, URI, MATCH, KEYURI = 0, 1, 2, 3
REST, PAD, EMPTY = 4, 8, 16
LINE_MAX = 32768        # P11AGENT_KIT_LINE_MAX, with the LF
PADLEN = LINE_MAX - 32  # fuzz-kit.c's PAD

PATH = b"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"
KEYURI_OK = (b"ok pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;"
             b"serial=0001;token=tok;id=%01%02%AB;object=alice;type=private")


def rec(ctl, answer):
    return bytes([ctl]) + answer


def line(ctl, answer):
    return rec(ctl, answer + b"\n")


def hexs(b):
    return b.hex().encode()


SEEDS = {
    # What the helper really answers.
    "module-ok": line(MODULE, b"ok " + hexs(PATH) + b" " + hexs(b"softhsm2")),
    "module-ok-unnamed": line(MODULE, b"ok " + hexs(PATH) + b" -"),
    "module-none": line(MODULE, b"none"),
    "uri-ok-0": line(URI, b"ok 0"),
    "uri-ok-1": line(URI, b"ok 1"),
    "uri-err": line(URI, b"err URI syntax is invalid"),
    "uri-err-unrecognized": line(URI | EMPTY, b"err unrecognized attribute"),
    "match-yes": line(MATCH, b"yes"),
    "match-no": line(MATCH | EMPTY, b"no"),
    "keyuri-ok": line(KEYURI, KEYURI_OK),
    "keyuri-ok-empty": line(KEYURI | EMPTY, b"ok pkcs11:model=SoftHSM%20v2;"
                            b"manufacturer=SoftHSM%20project;serial=0001;"
                            b"token=tok;type=private"),
    "keyuri-err": line(KEYURI, b"err cannot format the uri"),
    # The agent's start, then its key listing: one helper, many calls.
    "session": line(MODULE, b"ok " + hexs(PATH) + b" " + hexs(b"softhsm2")) +
    line(URI, b"err URI syntax is invalid") + line(URI, b"ok 0") +
    line(MATCH, b"no") + line(MATCH, b"yes") + line(KEYURI, KEYURI_OK) +
    line(KEYURI, KEYURI_OK),
    # The longest line there may be (LF included), and one byte more.
    "uri-err-longest": line(URI | PAD, b"err " +
                            b"x" * (LINE_MAX - 1 - 4 - PADLEN)),
    "uri-err-too-long": line(URI | PAD, b"err " +
                             b"x" * (LINE_MAX - 4 - PADLEN)),
    "module-ok-long": line(MODULE | PAD, b"ok 2f" + hexs(b"/m.so") + b" -"),
    # Malformed: each fails the kit, and the call after it fails at once.
    "uri-bad-flag": line(URI, b"ok 2") + line(MATCH, b"yes"),
    "uri-two-lines": rec(URI | REST, b"ok 0\nok 0\n"),
    "uri-no-lf": rec(URI, b"ok 0"),
    "uri-nul": line(URI, b"ok\x000"),
    "no-answer": rec(MATCH, b""),
    "match-trailing-space": line(MATCH, b"yes "),
    "module-odd-hex": line(MODULE, b"ok 2f6 -"),
    "module-nul-hex": line(MODULE, b"ok 2f00 -"),
    "module-upper-hex": line(MODULE, b"ok 2F6D -"),
    "module-no-path": line(MODULE, b"ok - -"),
    "module-extra": line(MODULE, b"ok 2f6d - -"),
    "module-none-extra": line(MODULE, b"none x"),
    "keyuri-not-uri": line(KEYURI, b"ok http://example.org/"),
    "keyuri-space": line(KEYURI, b"ok pkcs11:token=a b"),
    "keyuri-8bit": line(KEYURI, b"ok pkcs11:token=\xc3\xa4"),
    "uri-err-ctl": line(URI, b"err bad\x1b[2J"),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
