#!/usr/bin/env python3
"""Independent checker for the syncshell-stream known-answer vectors.

Usage: python3 check_stream.py [path/to/stream.json]

Follows docs/spec/stream.md only: it recomputes the key derivation, the chunks, the tags and
the frames, and it decodes the aborts and the negative vectors with its own strict decoders. Needs Python 3.8+ and the `cryptography` package; uses the
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

    # What the receiver asks for (sections 8 and 9): every file but those whose content
    # equals an earlier entry's (copied locally), each from its resumed whole chunks.
    resumed = f.get("resumed")
    wants, seen = [], set()
    for i, (path, size, content) in enumerate(files):
        digest = blake3(content)
        if digest in seen:
            continue
        seen.add(digest)
        start = resumed["bytes"] // cs if resumed and resumed["file"] == i else 0
        wants.append((i, start))
    check(name + ": wants", [list(w) for w in wants] == f["wants"])

    # Seal every requested chunk ourselves and compare with the recorded frames.
    expected = []
    box = aead(f["cipher"], key)
    for i, start in wants:
        size, content = files[i][1], files[i][2]
        n_chunks = chunks_of(size, cs)
        for j in range(start, n_chunks):
            pt = content[j * cs:(j + 1) * cs]
            sealed = box.encrypt(nonce(i, j, j == n_chunks - 1), pt, None)
            expected.append(chunk_frame(i, j, sealed))
    check(name + ": every chunk frame", sent[1:] == expected, "%d vs %d frames" % (len(sent) - 1, len(expected)))
    # A resumed file: the held prefix and the chunks that travelled hash to the manifest's value.
    if resumed:
        i = resumed["file"]
        got = files[i][2][:resumed["bytes"]]
        for fr in sent[1:]:
            body = dict((n, v) for n, _, v in fields(fields(fr)[1][2]))
            if body.get(1, 0) == i:
                j = body.get(2, 0)
                last = j == chunks_of(files[i][1], cs) - 1
                got += box.decrypt(nonce(i, j, last), body[3], None)
        check(name + ": resumed file hashes to its manifest value", blake3(got).hex() == f["files"][i]["blake3"])

    # Decrypting with a wrong last flag or position fails (STREAM).
    first = dict((num, v) for num, _, v in fields(fields(sent[1])[1][2]))
    f0, j0, sealed = first.get(1, 0), first.get(2, 0), first[3]
    try:
        box.decrypt(nonce(f0, j0, chunks_of(files[f0][1], cs) == j0 + 1), sealed, None)
        ok = True
    except InvalidTag:
        ok = False
    check(name + ": first chunk opens at its own nonce", ok)
    try:
        box.decrypt(nonce(f0, j0 + 1, False), sealed, None)
        moved = True
    except InvalidTag:
        moved = False
    check(name + ": the same chunk does not open at another position", not moved)

    answered = [bytes.fromhex(x) for x in f["receiver_frames"]]
    rtag, ctag = request_tag(auth, mh, wants), completion_tag(auth, mh)
    check(name + ": request tag", rtag.hex() == f["request_tag"])
    check(name + ": completion tag", ctag.hex() == f["completion_tag"])
    check(name + ": request frame", answered[0] == request_frame(mh, wants, rtag))
    check(name + ": complete frame", answered[1] == complete_frame(mh, ctag))


# ---------------------------------------------------------------------------------------------
# Strict decoders (spec sections 1, 3, 6 and 10), for the aborts and the negative vectors


class Refused(Exception):
    """A decoder refused its input; `args[0]` is the error name of the spec."""


def parse_fields(buf):
    """Top-level fields as (number, wire type, value); Malformed on anything broken."""
    out, pos = [], 0
    try:
        while pos < len(buf):
            key, pos = read_varint(buf, pos)
            num, wt = key >> 3, key & 7
            if num == 0:
                raise ValueError("field 0")
            if wt == 0:
                val, pos = read_varint(buf, pos)
            elif wt == 2:
                n, pos = read_varint(buf, pos)
                if pos + n > len(buf):
                    raise ValueError("truncated")
                val, pos = buf[pos:pos + n], pos + n
            elif wt == 1:
                val, pos = buf[pos:pos + 8], pos + 8
            elif wt == 5:
                val, pos = buf[pos:pos + 4], pos + 4
            else:
                raise ValueError("group")
            if pos > len(buf):
                raise ValueError("truncated")
            out.append((num, wt, val))
    except ValueError:
        raise Refused("Malformed")
    return out


def message(buf, schema):
    """Decodes a message: `schema` maps field number -> (wire type, repeated). Unknown fields
    are kept aside so the canonical length check refuses them; a known field with another
    wire type is Malformed (as protobuf libraries do). The last value of a scalar wins."""
    values = {}
    for num, wt, val in parse_fields(buf):
        if num not in schema:
            continue
        want_wt, repeated = schema[num]
        if wt != want_wt:
            raise Refused("Malformed")
        if repeated:
            values.setdefault(num, []).append(val)
        else:
            values[num] = val
    return values


def enc_varint_field(num, v):
    return (bytes([num << 3]) + varint(v)) if v else b""


def enc_bytes_field(num, b):
    return (bytes([(num << 3) | 2]) + varint(len(b)) + b) if b else b""


def decode_frame(buf):
    """Spec section 6; returns ("abort", reason, message) for aborts, the kind otherwise."""
    if len(buf) > 16 * 1024 * 1024 + 1024:
        raise Refused("TooLarge")
    top = message(buf, {1: (0, False), 2: (2, False), 3: (2, False), 4: (2, False), 5: (2, False), 6: (2, False)})
    for num, _, val in parse_fields(buf):
        if num == 3 and sum(1 for n, _, _ in parse_fields(val) if n == 2) > 100000:
            raise Refused("TooLarge")
    version = top.get(1, 0)
    bodies = [n for n in (2, 3, 4, 5, 6) if n in top]
    # Canonical length: version, then one body (a later oneof member replaces an earlier one).
    body_num = None
    for num, _, _ in parse_fields(buf):
        if num in (2, 3, 4, 5, 6):
            body_num = num
    canonical = enc_varint_field(1, version)
    decoded = None
    if body_num is not None:
        body = top[body_num]
        schemas = {
            2: {1: (2, False), 2: (2, False), 3: (2, False)},
            3: {1: (2, False), 2: (2, True), 3: (2, False)},
            4: {1: (0, False), 2: (0, False), 3: (2, False)},
            5: {1: (2, False), 2: (2, False)},
            6: {1: (0, False), 2: (2, False)},
        }
        vals = message(body, schemas[body_num])
        inner = b""
        for num in sorted(schemas[body_num]):
            wt, repeated = schemas[body_num][num]
            if num not in vals:
                continue
            if repeated:
                for w in vals[num]:
                    wv = message(w, {1: (0, False), 2: (0, False)})
                    we = enc_varint_field(1, wv.get(1, 0) & 0xFFFFFFFF) + enc_varint_field(2, wv.get(2, 0) & 0xFFFFFFFF)
                    inner += bytes([(num << 3) | 2]) + varint(len(we)) + we
            elif wt == 0:
                v = vals[num] & 0xFFFFFFFF if not (body_num == 6 and num == 1) else vals[num]
                inner += enc_varint_field(num, v)
            else:
                inner += enc_bytes_field(num, vals[num])
        canonical += bytes([(body_num << 3) | 2]) + varint(len(inner)) + inner
        decoded = (body_num, vals)
    if len(canonical) != len(buf):
        raise Refused("Malformed")
    if version != FRAME_VERSION:
        raise Refused("UnsupportedVersion")
    if decoded is None:
        raise Refused("Malformed")
    body_num, vals = decoded
    if body_num == 2:
        if len(vals.get(2, b"")) != 32 or len(vals.get(3, b"")) != 32:
            raise Refused("Malformed")
        return ("offer",)
    if body_num in (3, 5):
        tag_field = 3 if body_num == 3 else 2
        if len(vals.get(1, b"")) != 32 or len(vals.get(tag_field, b"")) != 32:
            raise Refused("Malformed")
        return ("request",) if body_num == 3 else ("complete",)
    if body_num == 4:
        if not 16 <= len(vals.get(3, b"")) <= 1048576 + 16:
            raise Refused("Malformed")
        return ("chunk",)
    reason, msg = vals.get(1, 0), vals.get(2, b"")
    if reason > 5 or len(msg) > 256:
        raise Refused("Malformed")
    try:
        text = msg.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("Malformed")
    return ("abort", reason, text)


RESERVED = ["con", "prn", "aux", "nul", "conin$", "conout$"] + ["com%s" % c for c in "0123456789\u00b9\u00b2\u00b3"] + ["lpt%s" % c for c in "0123456789\u00b9\u00b2\u00b3"]


def fold(s):
    """Section 10: each character uppercased, then each of those lowercased."""
    return "".join(c2.lower() for c in s for c2 in c.upper())


def short_name_alias(c):
    for i, ch in enumerate(c):
        if ch == "~":
            j = i + 1
            while j < len(c) and c[j] in "0123456789":
                j += 1
            if j > i + 1 and (j == len(c) or c[j] == "."):
                return True
    return False


def check_path(path):
    """Section 10; raises Refused("UnsafePath")."""
    if not path or len(path.encode()) > 1024 or path.startswith("/"):
        raise Refused("UnsafePath")
    comps = path.split("/")
    if len(comps) > 64:
        raise Refused("UnsafePath")
    for n, c in enumerate(comps):
        if not c or len(c.encode()) > 255 or c in (".", ".."):
            raise Refused("UnsafePath")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in c) or any(ch in c for ch in '\\:*?"<>|'):
            raise Refused("UnsafePath")
        if c.endswith(".") or c.endswith(" "):
            raise Refused("UnsafePath")
        if fold(c.split(".")[0].rstrip(" ")) in RESERVED or short_name_alias(c):
            raise Refused("UnsafePath")
        if n == 0 and fold(c) == ".syncshell-partial":
            raise Refused("UnsafePath")


def decode_manifest(buf):
    """Section 3."""
    if len(buf) > 16 * 1024 * 1024:
        raise Refused("TooLarge")
    if sum(1 for n, _, _ in parse_fields(buf) if n == 4) > 100000:
        raise Refused("TooLarge")
    top = message(buf, {1: (0, False), 2: (0, False), 3: (0, False), 4: (2, True)})
    entries = []
    canonical = enc_varint_field(1, top.get(1, 0) & 0xFFFFFFFF) + enc_varint_field(2, top.get(2, 0)) + enc_varint_field(3, top.get(3, 0) & 0xFFFFFFFF)
    for e in top.get(4, []):
        ev = message(e, {1: (2, False), 2: (0, False), 3: (2, False)})
        try:
            path = ev.get(1, b"").decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("Malformed")
        ee = enc_bytes_field(1, ev.get(1, b"")) + enc_varint_field(2, ev.get(2, 0)) + enc_bytes_field(3, ev.get(3, b""))
        canonical += b"\x22" + varint(len(ee)) + ee
        entries.append((path, ev.get(2, 0), ev.get(3, b"")))
    if len(canonical) != len(buf):
        raise Refused("Malformed")
    if top.get(1, 0) != 1:
        raise Refused("UnsupportedVersion")
    if top.get(2, 0) not in (1, 2):
        raise Refused("Malformed")
    for path, size, digest in entries:
        if len(digest) != 32:
            raise Refused("Malformed")
        check_path(path)
    cs = top.get(3, 0)
    if not 1024 <= cs <= 1048576:
        raise Refused("Malformed")
    folded, sizes = set(), {}
    for n, (path, size, digest) in enumerate(entries):
        if n and not entries[n - 1][0].encode() < path.encode():
            raise Refused("Malformed")
        if chunks_of(size, cs) > 1 << 32:
            raise Refused("TooManyChunks")
        if sizes.setdefault(digest, size) != size:
            raise Refused("Malformed")
        if fold(path) in folded:
            raise Refused("PathCollision")
        folded.add(fold(path))
    for path, _, _ in entries:
        comps = [fold(c) for c in path.split("/")]
        for k in range(1, len(comps)):
            if "/".join(comps[:k]) in folded:
                raise Refused("PathCollision")
    return entries


def refused_with(decode, buf):
    try:
        decode(buf)
    except Refused as e:
        return e.args[0]
    return None


def check_decoders(v):
    for a in v["aborts"]:
        fr = bytes.fromhex(a["frame"])
        sent = a["sent_message"].encode()
        end = min(256, len(sent))  # cut on a UTF-8 character boundary (section 6)
        while end < len(sent) and (sent[end] & 0xC0) == 0x80:
            end -= 1
        cut = sent[:end]
        body = enc_varint_field(1, a["reason"]) + enc_bytes_field(2, cut)
        check("abort %d %r: encoding" % (a["reason"], a["message"][:12]), fr == frame(6, body))
        check("abort %d %r: decodes" % (a["reason"], a["message"][:12]), refused_with(decode_frame, fr) is None and decode_frame(fr) == ("abort", a["reason"], a["message"]))
    for x in v["invalid_frames"]:
        got = refused_with(decode_frame, bytes.fromhex(x["frame"]))
        check("invalid frame (%s): %s" % (x["why"], x["error"]), got == x["error"], "got %s" % got)
    for x in v["invalid_manifests"]:
        got = refused_with(decode_manifest, bytes.fromhex(x["manifest"]))
        check("invalid manifest (%s): %s" % (x["why"], x["error"]), got == x["error"], "got %s" % got)
    # The valid vectors pass the same decoders.
    for n, f in enumerate(v["folders"]):
        check("folder %d: manifest decodes" % n, refused_with(decode_manifest, bytes.fromhex(f["manifest"])) is None)
        for fr in f["sender_frames"] + f["receiver_frames"]:
            if refused_with(decode_frame, bytes.fromhex(fr)) is not None:
                check("folder %d: every frame decodes" % n, False, fr[:40])
                break
        else:
            check("folder %d: every frame decodes" % n, True)


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

    check_decoders(v)

    print("%d passed, %d failed" % (PASSED, FAILED))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
