#!/usr/bin/env python3
"""Independent checker for the pack known-answer vectors (pack.json).

Usage: python3 check_pack.py [path/to/pack.json]

Follows docs/spec/stream.md only: section 12a (packs) here, and the stream construction and
strict decoders (sections 1-10) through the helpers of check_stream.py next to this file. Needs
Python 3.8+ and the `cryptography` package. Prints one line per check and ends with
"N passed, M failed"; the exit status is non-zero when a check fails.
"""

import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check_stream as cs  # noqa: E402  (the stream checker's helpers)
from check_stream import Refused, check  # noqa: E402

MAGIC = b"\x89SSPACK\n"
PACK_VERSION = 1
MAX_FRAME_LEN = 16 * 1024 * 1024 + 1024  # section 6


def frame_body(buf, field):
    """The body (field `field`) of a frame that decode_frame accepted, as {number: value}."""
    body = [v for n, _, v in cs.fields(buf) if n == field][-1]
    return dict((n, v) for n, _, v in cs.fields(body))


def open_pack(pack, key):
    """Section 12a: the files of a pack, [(path, content)], or Refused with the error's name.

    Reads frame by frame like the opener: each frame is used before the next one is read, so a
    pack that stops early is Truncated and anything after the last chunk is TrailingBytes."""
    if len(pack) < 12 or pack[:8] != MAGIC:
        raise Refused("NotAPack")
    if int.from_bytes(pack[8:12], "big") != PACK_VERSION:
        raise Refused("UnsupportedVersion")
    pos = 12

    def next_frame():
        nonlocal pos
        if pos == len(pack):
            raise Refused("Truncated")  # no end marker: the file must go on
        if len(pack) - pos < 4:
            raise Refused("Truncated")
        n = int.from_bytes(pack[pos:pos + 4], "big")
        if not 1 <= n <= MAX_FRAME_LEN:
            raise Refused("FrameLength")
        if len(pack) - pos - 4 < n:
            raise Refused("Truncated")
        buf = pack[pos + 4:pos + 4 + n]
        pos += 4 + n
        return buf

    offer = next_frame()
    if cs.decode_frame(offer) != ("offer",):
        raise Refused("Malformed")  # frame 1 is the offer
    o = frame_body(offer, 2)
    manifest, confirm, salt = o.get(1, b""), o[2], o[3]
    entries = cs.decode_manifest(manifest)
    top = dict((n, v) for n, _, v in cs.fields(manifest))
    cipher = "chacha20-poly1305" if top.get(2) == 1 else "aes-256-gcm"
    chunk_size = top[3]
    mh = cs.manifest_hash(manifest)
    if cs.hkdf(key, mh, salt, "syncshell/v1/stream-confirm") != confirm:
        raise Refused("KeyMismatch")
    box = cs.aead(cipher, cs.hkdf(key, mh, salt, "syncshell/v1/stream-key"))
    # What a receiver starting from an empty folder requests: every file but one whose hash
    # equals an earlier entry's, from chunk 0, in manifest order.
    first, copies, contents = {}, [], {}
    for i, (path, size, digest) in enumerate(entries):
        if digest in first:
            copies.append((first[digest], i))
            continue
        first[digest] = i
        data = b""
        n_chunks = cs.chunks_of(size, chunk_size)
        for j in range(n_chunks):
            buf = next_frame()
            if cs.decode_frame(buf) != ("chunk",):
                raise Refused("Malformed")
            c = frame_body(buf, 4)
            if (c.get(1, 0), c.get(2, 0)) != (i, j):
                raise Refused("Malformed")  # chunks come in order
            try:
                data += box.decrypt(cs.nonce(i, j, j == n_chunks - 1), c[3], None)
            except cs.InvalidTag:
                raise Refused("Authentication")
        if len(data) != size or cs.blake3(data) != digest:
            raise Refused("HashMismatch")
        contents[i] = data
    if pos != len(pack):
        raise Refused("TrailingBytes")
    for src, dst in copies:
        contents[dst] = contents[src]
    return [(entries[i][0], contents[i]) for i in range(len(entries))]


def run(v):
    key = bytes.fromhex(v["key"])
    pack = bytes.fromhex(v["pack"])
    files = [(f["path"], bytes.fromhex(f["content"])) for f in v["files"]]
    for path, content in files:
        check("file %s: blake3" % path, cs.blake3(content).hex() == [f for f in v["files"] if f["path"] == path][0]["blake3"])
    check("header: magic and version 1", pack[:12] == MAGIC + (1).to_bytes(4, "big"))
    check("max_frame_len is section 6's", v["max_frame_len"] == MAX_FRAME_LEN)

    # The frames, and the pack as exactly their concatenation behind lengths.
    frames = [bytes.fromhex(x) for x in v["frames"]]
    check("pack: the header, then each frame behind its u32 big-endian length",
          pack == MAGIC + (1).to_bytes(4, "big") + b"".join(len(f).to_bytes(4, "big") + f for f in frames))

    # Frame 1: the offer of the manifest built from the files, with the recorded salt.
    cipher_id = 1 if v["cipher"] == "chacha20-poly1305" else 2
    entries = sorted((p, len(c), cs.blake3(c)) for p, c in files)
    mbytes = cs.encode_manifest(cipher_id, v["chunk_size"], entries)
    check("manifest: encoding of the files", mbytes.hex() == v["manifest"])
    mh = cs.manifest_hash(mbytes)
    check("manifest: hash", mh.hex() == v["manifest_hash"])
    salt = bytes.fromhex(v["salt"])
    confirm = cs.hkdf(key, mh, salt, "syncshell/v1/stream-confirm")
    body = b"\x0a" + cs.varint(len(mbytes)) + mbytes + b"\x12\x20" + confirm + b"\x1a\x20" + salt
    check("frame 1: the offer (manifest, confirmation, salt)", frames[0] == cs.frame(2, body))

    # Then every chunk, sealed by us with the STREAM nonces, in manifest order.
    key_s = cs.hkdf(key, mh, salt, "syncshell/v1/stream-key")
    box = cs.aead(v["cipher"], key_s)
    expected, seen = [], set()
    for i, (path, size, digest) in enumerate(entries):
        if digest in seen:
            continue
        seen.add(digest)
        content = dict(files)[path]
        n = cs.chunks_of(size, v["chunk_size"])
        for j in range(n):
            pt = content[j * v["chunk_size"]:(j + 1) * v["chunk_size"]]
            expected.append(cs.chunk_frame(i, j, box.encrypt(cs.nonce(i, j, j == n - 1), pt, None)))
    check("frames 2..: every chunk, in order, nothing else", frames[1:] == expected,
          "%d vs %d frames" % (len(frames) - 1, len(expected)))

    # Opening, by the strict reader.
    try:
        got = open_pack(pack, key)
    except Refused as e:
        got = "refused %s" % e.args[0]
    check("open: gives back every file", got == sorted(files), str(got)[:80])
    wrong = bytes([key[0] ^ 1]) + key[1:]
    check("open: another key is refused", cs.refused_with(lambda b: open_pack(b, wrong), pack) == "KeyMismatch")
    for n in v["invalid_packs"]:
        got = cs.refused_with(lambda b: open_pack(b, key), bytes.fromhex(n["pack"]))
        check("invalid pack (%s): %s" % (n["why"], n["error"]), got == n["error"], "got %s" % got)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "pack.json")
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    try:
        run(vectors)
    except Exception as e:  # a crash is one more failure, reported, not a traceback
        check("pack: checks ran to completion", False, "%s: %s" % (type(e).__name__, e))
    print("%d passed, %d failed" % (cs.PASSED, cs.FAILED))
    sys.exit(1 if cs.FAILED else 0)


if __name__ == "__main__":
    main()
