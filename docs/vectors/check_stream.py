#!/usr/bin/env python3
"""Independent checker for the syncshell-stream known-answer vectors.

Usage: python3 check_stream.py [path/to/stream.json]

Follows docs/spec/stream.md only. Needs Python 3.8+ and the `cryptography` package; uses the
`blake3` package when it is installed and a small pure-Python BLAKE3 otherwise. Protobuf is
read and written by hand below. Prints one line per check and ends with "N passed, M failed";
the exit status is non-zero when a check fails.
"""

import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PASSED = 0
FAILED = 0


def check(name, ok, detail=""):
    """Records one check and prints one line for it."""
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print("ok    " + name)
    else:
        FAILED += 1
        print("FAIL  " + name + (": " + detail if detail else ""))
    return ok


# ---------------------------------------------------------------------------------------------
# BLAKE3 (spec section 1): the `blake3` package if present, else this reference-style version.

IV = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19]
PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]
CHUNK_START, CHUNK_END, PARENT, ROOT = 1, 2, 4, 8
M32 = 0xFFFFFFFF


def _rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & M32


def _g(s, a, b, c, d, x, y):
    s[a] = (s[a] + s[b] + x) & M32
    s[d] = _rotr(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & M32
    s[b] = _rotr(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b] + y) & M32
    s[d] = _rotr(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & M32
    s[b] = _rotr(s[b] ^ s[c], 7)


def _compress(cv, block, counter, block_len, flags):
    m = [int.from_bytes(block[4 * i:4 * i + 4], "little") for i in range(16)]
    s = list(cv) + IV[:4] + [counter & M32, (counter >> 32) & M32, block_len, flags]
    for r in range(7):
        _g(s, 0, 4, 8, 12, m[0], m[1])
        _g(s, 1, 5, 9, 13, m[2], m[3])
        _g(s, 2, 6, 10, 14, m[4], m[5])
        _g(s, 3, 7, 11, 15, m[6], m[7])
        _g(s, 0, 5, 10, 15, m[8], m[9])
        _g(s, 1, 6, 11, 12, m[10], m[11])
        _g(s, 2, 7, 8, 13, m[12], m[13])
        _g(s, 3, 4, 9, 14, m[14], m[15])
        if r < 6:
            m = [m[p] for p in PERM]
    return [s[i] ^ s[i + 8] for i in range(8)]


def _pure_blake3(data):
    chunks = [data[i:i + 1024] for i in range(0, len(data), 1024)] or [b""]

    def chunk_output(idx):
        chunk = chunks[idx]
        blocks = [chunk[i:i + 64] for i in range(0, len(chunk), 64)] or [b""]
        cv = IV
        for j, blk in enumerate(blocks):
            flags = (CHUNK_START if j == 0 else 0) | (CHUNK_END if j == len(blocks) - 1 else 0)
            padded = blk + bytes(64 - len(blk))
            if j == len(blocks) - 1:
                return (cv, padded, idx, len(blk), flags)
            cv = _compress(cv, padded, idx, 64, flags)

    def node(lo, hi):
        if hi - lo == 1:
            return chunk_output(lo)
        left = 1 << ((hi - lo - 1).bit_length() - 1)
        lcv = _compress(*node(lo, lo + left))
        rcv = _compress(*node(lo + left, hi))
        block = b"".join(w.to_bytes(4, "little") for w in lcv + rcv)
        return (IV, block, 0, 64, PARENT)

    cv, block, counter, block_len, flags = node(0, len(chunks))
    out = _compress(cv, block, counter, block_len, flags | ROOT)
    return b"".join(w.to_bytes(4, "little") for w in out)


try:
    import blake3 as _blake3_pkg

    def blake3(data):
        return _blake3_pkg.blake3(data).digest()

    BLAKE3_SOURCE = "the blake3 package"
except ImportError:
    blake3 = _pure_blake3
    BLAKE3_SOURCE = "the pure-Python BLAKE3 in this file"


# ---------------------------------------------------------------------------------------------
# Protobuf, by hand (spec section 1)


def read_varint(buf, pos):
    value, shift = 0, 0
    for _ in range(10):
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
    raise ValueError("varint too long")


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def fields(buf):
    """Top-level fields of a message as (number, wire type, value) triples."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = read_varint(buf, pos)
        elif wt == 2:
            n, pos = read_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated field")
            val, pos = buf[pos:pos + n], pos + n
        else:
            raise ValueError("unexpected wire type %d" % wt)
        out.append((num, wt, val))
    return out


def encode_manifest(cipher, chunk_size, files):
    """The canonical encoding of a Manifest (spec sections 1 and 3)."""
    out = b"\x08\x01" + b"\x10" + varint(cipher) + b"\x18" + varint(chunk_size)
    for path, size, digest in files:
        p = path.encode("utf-8")
        e = b"\x0a" + varint(len(p)) + p
        if size:
            e += b"\x10" + varint(size)
        e += b"\x1a\x20" + digest
        out += b"\x22" + varint(len(e)) + e
    return out


FRAME_VERSION = 2


def frame(field, body):
    """A Frame (version 2) whose body is field `field` (spec section 6)."""
    return b"\x08" + varint(FRAME_VERSION) + bytes([(field << 3) | 2]) + varint(len(body)) + body


def chunk_frame(file, index, sealed):
    """The chunk frame layout of spec section 6."""
    body = b""
    if file:
        body += b"\x08" + varint(file)
    if index:
        body += b"\x10" + varint(index)
    body += b"\x1a" + varint(len(sealed)) + sealed
    return frame(4, body)


def request_frame(manifest_hash, wants, tag):
    """A Request frame (field 3): hash, wants, tag (spec section 6)."""
    body = b"\x0a\x20" + manifest_hash
    for f, c in wants:
        w = (b"\x08" + varint(f) if f else b"") + (b"\x10" + varint(c) if c else b"")
        body += b"\x12" + varint(len(w)) + w
    return frame(3, body + b"\x1a\x20" + tag)


def complete_frame(manifest_hash, tag):
    """A Complete frame (field 5): hash, tag (spec section 6)."""
    return frame(5, b"\x0a\x20" + manifest_hash + b"\x12\x20" + tag)


def hmac_sha256(key, data):
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def request_tag(auth, manifest_hash, wants):
    """Spec section 7a: the tag of a request."""
    msg = b"syncshell/v1/stream-request\x00" + manifest_hash + len(wants).to_bytes(4, "big")
    for f, c in wants:
        msg += f.to_bytes(4, "big") + c.to_bytes(4, "big")
    return hmac_sha256(auth, msg)


def completion_tag(auth, manifest_hash):
    """Spec section 7a: the tag of a completion."""
    return hmac_sha256(auth, b"syncshell/v1/stream-complete\x00" + manifest_hash)


# ---------------------------------------------------------------------------------------------
# The construction (spec sections 3-5)


def manifest_hash(manifest_bytes):
    return hashlib.sha256(b"syncshell/v1/stream-manifest\x00" + manifest_bytes).digest()


def hkdf(session_key, manifest_hash, offer_salt, info):
    """Spec section 4: the extract salt is the manifest hash followed by the offer's salt."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=manifest_hash + offer_salt, info=info.encode()).derive(session_key)


def nonce(file, position, last):
    return b"\x00\x00\x00" + file.to_bytes(4, "big") + position.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def aead(cipher, key):
    return ChaCha20Poly1305(key) if cipher == "chacha20-poly1305" else AESGCM(key)


def chunks_of(size, chunk_size):
    return max(1, -(-size // chunk_size))


# ---------------------------------------------------------------------------------------------
# The checks


def check_folder(n, f):
    name = "folder %d (%s)" % (n, f["cipher"])
    session = bytes.fromhex(f["session_key"])
    cs = f["chunk_size"]
    cipher_id = 1 if f["cipher"] == "chacha20-poly1305" else 2
    files = [(x["path"], x["size"], bytes.fromhex(x["content"])) for x in f["files"]]

    for (path, size, content), x in zip(files, f["files"]):
        check(name + ": size of " + path, len(content) == size)
        check(name + ": blake3 of " + path, blake3(content).hex() == x["blake3"])
        check(name + ": pure-Python blake3 of " + path, _pure_blake3(content).hex() == x["blake3"])
    order = [p for p, _, _ in files]
    check(name + ": files sorted by UTF-8 bytes", order == sorted(order, key=lambda p: p.encode()))

    mbytes = encode_manifest(cipher_id, cs, [(p, s, blake3(c)) for p, s, c in files])
    check(name + ": manifest encoding", mbytes.hex() == f["manifest"])
    mh = manifest_hash(mbytes)
    check(name + ": manifest hash", mh.hex() == f["manifest_hash"])
    salt = bytes.fromhex(f["salt"])
    key = hkdf(session, mh, salt, "syncshell/v1/stream-key")
    confirm = hkdf(session, mh, salt, "syncshell/v1/stream-confirm")
    check(name + ": stream key", key.hex() == f["stream_key"])
    check(name + ": key confirmation", confirm.hex() == f["confirm"])
    auth = hkdf(session, mh, salt, "syncshell/v1/stream-auth")
    check(name + ": auth key", auth.hex() == f["auth_key"])

    sent = [bytes.fromhex(x) for x in f["sender_frames"]]
    body = b"\x0a" + varint(len(mbytes)) + mbytes + b"\x12\x20" + confirm + b"\x1a\x20" + salt
    check(name + ": offer frame", sent[0] == frame(2, body))

    # Seal every chunk ourselves and compare with the recorded frames, then open them.
    expected = []
    box = aead(f["cipher"], key)
    for i, (path, size, content) in enumerate(files):
        n_chunks = chunks_of(size, cs)
        for j in range(n_chunks):
            pt = content[j * cs:(j + 1) * cs]
            sealed = box.encrypt(nonce(i, j, j == n_chunks - 1), pt, None)
            expected.append(chunk_frame(i, j, sealed))
    check(name + ": every chunk frame", sent[1:] == expected, "%d vs %d frames" % (len(sent) - 1, len(expected)))

    # Decrypting with a wrong last flag or position fails (STREAM).
    first = fields(fields(sent[1])[1][2])
    sealed = [v for num, _, v in first if num == 3][0]
    try:
        box.decrypt(nonce(0, 0, len(files[0][2]) <= cs), sealed, None)
        ok = True
    except InvalidTag:
        ok = False
    check(name + ": first chunk opens at its own nonce", ok)
    try:
        box.decrypt(nonce(0, 1, False), sealed, None)
        moved = True
    except InvalidTag:
        moved = False
    check(name + ": the same chunk does not open at another position", not moved)

    answered = [bytes.fromhex(x) for x in f["receiver_frames"]]
    wants = [(i, 0) for i in range(len(files))]
    check(name + ": request frame", answered[0] == request_frame(mh, wants, request_tag(auth, mh, wants)))
    check(name + ": complete frame", answered[1] == complete_frame(mh, completion_tag(auth, mh)))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "stream.json")
    with open(path) as fh:
        v = json.load(fh)
    print("using " + BLAKE3_SOURCE)
    check("blake3 of the empty string", blake3(b"").hex() == v["blake3_empty"])

    kd = v["key_derivation"]
    session = bytes.fromhex(kd["session_key"])
    mh = manifest_hash(bytes.fromhex(kd["manifest"]))
    salt = bytes.fromhex(kd["salt"])
    check("key derivation: manifest hash", mh.hex() == kd["manifest_hash"])
    check("key derivation: stream key", hkdf(session, mh, salt, kd["key_info"]).hex() == kd["stream_key"])
    check("key derivation: confirmation", hkdf(session, mh, salt, kd["confirm_info"]).hex() == kd["confirm"])

    for x in v["nonces"]:
        check("nonce %d/%d/%s" % (x["file"], x["position"], x["last"]), nonce(x["file"], x["position"], x["last"]).hex() == x["nonce"])

    for n, f in enumerate(v["folders"]):
        check_folder(n, f)

    print("%d passed, %d failed" % (PASSED, FAILED))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
