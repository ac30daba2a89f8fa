#!/usr/bin/env python3
"""Independent checker for the syncshell transport known-answer vectors.

Usage: python3 check_transport.py [path/to/transport.json]

Follows docs/spec/transport.md only; Python 3.8+, standard library only. Prints one line per
check and ends with "N passed, M failed"; the exit status is non-zero when a check fails.
"""

import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PASSED = 0
FAILED = 0


def check(name, ok):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print("ok   " + name)
    else:
        FAILED += 1
        print("FAIL " + name)


# --- 6.3 channel binding -------------------------------------------------------------------

LABEL = b"syncshell/v1/webrtc-channel-binding"


def fingerprint_text(digest):
    """32 bytes -> 95 ASCII bytes: upper-case hex pairs separated by ':'."""
    assert len(digest) == 32
    return ":".join("%02X" % b for b in digest).encode("ascii")


def parse_fingerprint(text):
    """The SDP form (either case) -> 32 bytes, or None."""
    pairs = text.split(":")
    if len(pairs) != 32:
        return None
    out = bytearray()
    for p in pairs:
        if len(p) != 2 or any(c not in "0123456789abcdefABCDEF" for c in p):
            return None
        out.append(int(p, 16))
    return bytes(out)


def channel_binding(offerer, answerer):
    data = bytearray(LABEL)
    for digest in (offerer, answerer):
        text = fingerprint_text(digest)
        data += len(text).to_bytes(4, "big") + text
    return bytes(data), hashlib.sha256(bytes(data)).digest()


def check_channel_binding(v):
    check("binding: label is the 35 ASCII bytes", v["label"].encode() == LABEL and len(LABEL) == 35)
    off = parse_fingerprint(v["offerer_fingerprint"])
    ans = parse_fingerprint(v["answerer_fingerprint"])
    check("binding: fingerprints are 32 hex pairs", off is not None and ans is not None)
    check(
        "binding: fingerprints are written in canonical upper case",
        fingerprint_text(off).decode() == v["offerer_fingerprint"]
        and fingerprint_text(ans).decode() == v["answerer_fingerprint"],
    )
    data, binding = channel_binding(off, ans)
    check("binding: hashed input", data.hex() == v["input"])
    check("binding: value", binding.hex() == v["binding"])
    check("binding: order matters", channel_binding(ans, off)[1] != binding)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "transport.json")
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    check_channel_binding(vectors["channel_binding"])
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
