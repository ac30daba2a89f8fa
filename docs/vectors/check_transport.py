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


# --- 1 fragments ---------------------------------------------------------------------------


class Refused(Exception):
    """A receiver's refusal: ("Protocol", reason) or ("TooLarge", len, max)."""


def split(message, f):
    step = f - 1
    k = max(1, -(-len(message) // step))
    return [
        bytes([1 if i == k - 1 else 0]) + message[i * step : (i + 1) * step] for i in range(k)
    ]


class Reassembler:
    def __init__(self, max_message):
        self.max = max_message
        self.buf = b""
        self.failed = None

    def push(self, fragment):
        if self.failed:
            raise Refused(*self.failed)
        try:
            if not fragment:
                raise Refused("Protocol", "empty fragment")
            if fragment[0] not in (0, 1):
                raise Refused("Protocol", "unknown fragment flag")
            n = len(self.buf) + len(fragment) - 1
            if n > self.max:
                raise Refused("TooLarge", n, self.max)
        except Refused as e:
            self.failed = e.args
            self.buf = b""
            raise
        self.buf += fragment[1:]
        if fragment[0] == 1:
            out, self.buf = self.buf, b""
            return out
        return None


def refusal(v):
    if v["error"] == "Protocol":
        return ("Protocol", v["reason"])
    return ("TooLarge", v["len"], v["max"])


def check_fragments(cases):
    for i, v in enumerate(cases):
        msg = bytes.fromhex(v["message"])
        f = v["max_fragment"]
        frags = split(msg, f)
        check("fragments %d: split (F=%d, %d bytes)" % (i, f, len(msg)), [x.hex() for x in frags] == v["fragments"])
        check("fragments %d: each at most F" % i, all(len(x) <= f for x in frags))
        r = Reassembler(1 << 20)
        out = [m for m in (r.push(x) for x in frags) if m is not None]
        check("fragments %d: joined again" % i, out == [msg])


def check_reassembly(cases):
    for i, v in enumerate(cases):
        r = Reassembler(v["max_message"])
        delivered, refused_at, why = [], None, None
        for j, x in enumerate(v["fragments"]):
            try:
                m = r.push(bytes.fromhex(x))
            except Refused as e:
                refused_at, why = j, e.args
                break
            if m is not None:
                delivered.append(m.hex())
        check("reassembly %d: delivered before the refusal" % i, delivered == v["delivered"])
        check(
            "reassembly %d: refused at %d with %s" % (i, v["refused_at"], refusal(v["refusal"])),
            refused_at == v["refused_at"] and why == refusal(v["refusal"]),
        )
        later = []
        for x in v["fragments"][refused_at:]:
            try:
                r.push(bytes.fromhex(x))
                later.append(None)
            except Refused as e:
                later.append(e.args)
        check("reassembly %d: the refusal is final" % i, all(a == why for a in later))


# --- 6.1 frames ----------------------------------------------------------------------------

FRAME_OVERHEAD = 64


def read_frame(frame, window, available, peer_credit):
    """-> dict like a vector's outcome, or raises Refused."""
    if frame[:1] == b"\x00":
        cost = len(frame) - 1 + 1 + FRAME_OVERHEAD
        if cost > peer_credit:
            raise Refused("Protocol", "credit exceeded")
        return {"kind": "data", "fragment": frame[1:].hex(), "cost": cost}
    if frame[:1] == b"\x01":
        if len(frame) != 5:
            raise Refused("Protocol", "bad credit frame")
        amount = int.from_bytes(frame[1:], "big")
        if available + amount > window:
            raise Refused("Protocol", "credit over the window")
        return {"kind": "credit", "credit": amount}
    if frame == b"\x02":
        return {"kind": "ready"}
    raise Refused("Protocol", "unknown frame kind")


def check_frames(cases):
    for i, v in enumerate(cases):
        frame = bytes.fromhex(v["frame"])
        try:
            got = read_frame(frame, v["window"], v["available"], v["peer_credit"])
            got_refusal = None
        except Refused as e:
            got, got_refusal = None, e.args
        if "refusal" in v:
            check("frames %d: %s refused: %s" % (i, v["frame"], v["refusal"].get("reason")), got_refusal == refusal(v["refusal"]))
        else:
            want = {k: v[k] for k in v if k not in ("window", "available", "peer_credit", "frame")}
            check("frames %d: %s is %s" % (i, v["frame"], v["kind"]), got == want)


# --- 6.2 signaling blobs -------------------------------------------------------------------


class Dropped(Exception):
    pass


def read_blob(b):
    if len(b) < 2:
        raise Dropped("truncated header")
    if b[0] != 1:
        raise Dropped("unknown version")
    kind = b[1]
    if kind in (1, 2):
        if len(b) < 14:
            raise Dropped("truncated header")
        sdp = b[14:]
        if len(sdp) > 65536:
            raise Dropped("SDP over 64 KiB")
        try:
            text = sdp.decode("utf-8")
        except UnicodeDecodeError:
            raise Dropped("SDP is not UTF-8")
        return {
            "kind": "offer" if kind == 1 else "answer",
            "session": int.from_bytes(b[2:10], "big"),
            "window": int.from_bytes(b[10:14], "big"),
            "sdp": text,
        }
    if kind not in (3, 4):
        raise Dropped("unknown kind")
    if len(b) < 10:
        raise Dropped("truncated header")
    session = int.from_bytes(b[2:10], "big")
    body = b[10:]
    if kind == 4:
        if body:
            raise Dropped("bytes after end of candidates")
        return {"kind": "end_of_candidates", "session": session}
    pos = [0]

    def take(n):
        if pos[0] + n > len(body):
            raise Dropped("truncated candidate")
        out = body[pos[0] : pos[0] + n]
        pos[0] += n
        return out

    def string():
        n = int.from_bytes(take(2), "big")
        try:
            return take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise Dropped("candidate is not UTF-8")

    def optional(get):
        flag = take(1)[0]
        if flag == 0:
            return None
        if flag == 1:
            return get()
        raise Dropped("bad optional field flag")

    out = {"kind": "candidate", "session": session, "candidate": string()}
    out["sdp_mid"] = optional(string)
    out["sdp_mline_index"] = optional(lambda: int.from_bytes(take(2), "big"))
    out["username_fragment"] = optional(string)
    if pos[0] != len(body):
        raise Dropped("bytes after the candidate")
    return out


def check_blobs(cases):
    for i, v in enumerate(cases):
        blob = bytes.fromhex(v["blob"])
        try:
            got, why = read_blob(blob), None
        except Dropped as e:
            got, why = None, e.args[0]
        if "dropped" in v:
            check("blobs %d: %d bytes dropped: %s" % (i, len(blob), v["dropped"]), why == v["dropped"])
        else:
            want = {k: v[k] for k in v if k != "blob"}
            check("blobs %d: %s" % (i, v["kind"]), got == want)


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
    check_fragments(vectors["fragments"])
    check_reassembly(vectors["reassembly_refusals"])
    check_frames(vectors["frames"])
    check_blobs(vectors["signaling_blobs"])
    check_channel_binding(vectors["channel_binding"])
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
