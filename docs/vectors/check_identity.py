#!/usr/bin/env python3
"""Independent checker for the syncshell-identity known-answer vectors.

Usage: python3 check_identity.py [path/to/identity.json]

Follows docs/spec/identity.md only. Needs Python 3.8+ and the `cryptography` package (version
44 or later, for Argon2id); protobuf is read and written by hand below. Prints one line per
check and ends with "N passed, M failed"; the exit status is non-zero when a check fails.
"""

import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# ---------------------------------------------------------------------------------------------
# Reporting

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


def raises(fn, exc=Exception):
    """True when fn() raises exc."""
    try:
        fn()
    except exc:
        return True
    return False


# ---------------------------------------------------------------------------------------------
# Constants (spec: "Constants and size limits")

CTX_GENESIS = "syncshell/v1/shell-genesis"
CTX_TOKEN = "syncshell/v1/member-token"
CTX_INVITE = "syncshell/v1/invite"
CTX_JOIN_REQUEST = "syncshell/v1/join-request"
CTX_JOIN_PROOF = "syncshell/v1/join-invite-proof"

MAX_WIRE_LEN = 16 * 1024
MAX_TEXT_BYTES = 32 * 1024
MAX_CHAIN_DEPTH = 4
MAX_CLOCK_SKEW_MS = 5 * 60 * 1000
MAX_INVITE_USES = 1000
MAX_HINTS_LEN = 2048
MAX_SHELL_NAME_LEN = 64
MAX_KEY_FILE_LEN = 1024

ROLE_MEMBER, ROLE_ADMIN = 1, 2
ROLE_NAMES = {ROLE_MEMBER: "member", ROLE_ADMIN: "admin"}

# ---------------------------------------------------------------------------------------------
# Protobuf wire format (spec: "Conventions")


class ProtoError(Exception):
    pass


def read_varint(buf, pos):
    value = 0
    for i in range(10):
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            if value >= 1 << 64:
                raise ProtoError("varint overflows 64 bits")
            return value, pos
    raise ProtoError("varint longer than 10 bytes")


MAX_NESTING = 100


def skip_group(buf, pos, field, depth):
    """Skips an unknown group whose start key (field `field`) was at `depth`; returns the
    position after its end-group key. A field inside it is at depth + 1 (identity.md § 1)."""
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated group")
        key, pos = read_varint(buf, pos)
        if key > 0xFFFFFFFF or key >> 3 == 0:
            raise ProtoError("bad field key")
        if key & 7 == 4:
            if key >> 3 != field:
                raise ProtoError("end-group of another field")
            return pos
        _, pos = read_value(buf, pos, key >> 3, key & 7, depth + 1)


def read_value(buf, pos, field, wt, depth):
    """Reads one field's value after its key; a field at depth >= 100 is refused."""
    if depth >= MAX_NESTING:
        raise ProtoError("nested deeper than 100")
    if wt == 0:
        return read_varint(buf, pos)
    if wt in (1, 5):
        n = 8 if wt == 1 else 4
        if pos + n > len(buf):
            raise ProtoError("truncated fixed-width field")
        return buf[pos : pos + n], pos + n
    if wt == 2:
        n, pos = read_varint(buf, pos)
        if n > len(buf) - pos:
            raise ProtoError("length runs past the end")
        return buf[pos : pos + n], pos + n
    if wt == 3:
        return None, skip_group(buf, pos, field, depth)
    raise ProtoError("unmatched end-group" if wt == 4 else "unsupported wire type %d" % wt)


def read_fields(buf, depth=0):
    """Splits a message into (field number, wire type, value) in wire order; groups (only ever
    unknown fields here) are skipped. `depth` is how many messages enclose this one."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        if key > 0xFFFFFFFF or key >> 3 == 0:
            raise ProtoError("bad field key")
        field, wt = key >> 3, key & 7
        value, pos = read_value(buf, pos, field, wt, depth)
        if wt != 3:
            out.append((field, wt, value))
    return out


# Schemas from proto/identity.proto: field number -> (name, type, repeated).
SCHEMAS = {
    "SignedEnvelope": {
        1: ("version", "uint32", False),
        2: ("body", "bytes", False),
        3: ("signer", "bytes", False),
        4: ("signature", "bytes", False),
    },
    "ShellGenesisBody": {
        1: ("version", "uint32", False),
        2: ("name", "string", False),
        3: ("owner", "bytes", False),
        4: ("created_at_ms", "uint64", False),
        5: ("nonce", "bytes", False),
    },
    "MemberTokenBody": {
        1: ("version", "uint32", False),
        2: ("shell_id", "bytes", False),
        3: ("subject", "bytes", False),
        4: ("role", "enum", False),
        5: ("issuer", "bytes", False),
        6: ("issued_at_ms", "uint64", False),
        7: ("expires_at_ms", "uint64", False),
        8: ("token_id", "bytes", False),
    },
    "TokenChain": {1: ("tokens", "message", True)},
    "InviteBody": {
        1: ("version", "uint32", False),
        2: ("genesis", "message", False),
        3: ("inviter_chain", "message", False),
        4: ("invite_key", "bytes", False),
        5: ("issued_at_ms", "uint64", False),
        6: ("expires_at_ms", "uint64", False),
        7: ("max_uses", "uint32", False),
        8: ("role", "enum", False),
        9: ("hints", "bytes", False),
    },
    "InviteCode": {
        1: ("version", "uint32", False),
        2: ("invite", "message", False),
        3: ("secret", "bytes", False),
    },
    "JoinRequestBody": {
        1: ("version", "uint32", False),
        2: ("invite", "message", False),
        3: ("joiner", "bytes", False),
        4: ("requested_at_ms", "uint64", False),
    },
    "JoinRequest": {
        1: ("request", "message", False),
        2: ("invite_proof", "bytes", False),
    },
    "KeyFile": {
        1: ("version", "uint32", False),
        2: ("kdf", "uint32", False),
        3: ("m_cost_kib", "uint32", False),
        4: ("t_cost", "uint32", False),
        5: ("p_cost", "uint32", False),
        6: ("salt", "bytes", False),
        7: ("aead", "uint32", False),
        8: ("nonce", "bytes", False),
        9: ("public_key", "bytes", False),
        10: ("ciphertext", "bytes", False),
        11: ("checksum", "bytes", False),
    },
}

WIRE_TYPE = {"uint32": 0, "uint64": 0, "enum": 0, "bytes": 2, "string": 2, "message": 2}
DEFAULTS = {"uint32": 0, "uint64": 0, "enum": 0, "bytes": b"", "string": ""}


def decode(schema_name, buf):
    """proto3 decoding: unknown fields skipped, last occurrence of a scalar wins, repeated
    occurrences of an embedded message merge (equivalent to concatenating their bytes).
    An absent embedded message is None."""
    schema = SCHEMAS[schema_name]
    msg = {}
    for name, typ, rep in schema.values():
        msg[name] = [] if rep else (None if typ == "message" else DEFAULTS[typ])
    for field, wt, value in read_fields(buf):
        if field not in schema:
            continue
        name, typ, rep = schema[field]
        if wt != WIRE_TYPE[typ]:
            raise ProtoError("wrong wire type for " + name)
        if typ == "uint32":
            value &= 0xFFFFFFFF
        elif typ == "enum":
            value &= 0xFFFFFFFF
            value = value - (1 << 32) if value >= 1 << 31 else value
        elif typ == "string":
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtoError("string is not UTF-8")
        if rep:
            msg[name].append(value)
        elif typ == "message" and msg[name] is not None:
            msg[name] = msg[name] + value
        else:
            msg[name] = value
    return msg


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def e_uint(field, value):
    """A varint field; omitted when 0."""
    return b"" if value == 0 else varint(field << 3) + varint(value)


def e_bytes(field, value):
    """A bytes or string field; omitted when empty."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return b"" if not value else varint(field << 3 | 2) + varint(len(value)) + value


def e_msg(field, value):
    """An embedded message or repeated element; always emitted, even when empty."""
    return varint(field << 3 | 2) + varint(len(value)) + value


def enc_envelope(body, signer, signature):
    return e_uint(1, 1) + e_bytes(2, body) + e_bytes(3, signer) + e_bytes(4, signature)


# ---------------------------------------------------------------------------------------------
# Ed25519 (spec: "Ed25519")

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1)
BASE_Y = 4 * pow(5, P - 2, P) % P


def inv(x):
    return pow(x, P - 2, P)


def pt_add(a, b):
    x1, y1 = a
    x2, y2 = b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * inv(1 + t) % P, (y1 * y2 + x1 * x2) * inv(1 - t) % P)


def pt_mul(k, pt):
    acc = IDENTITY
    while k:
        if k & 1:
            acc = pt_add(acc, pt)
        pt = pt_add(pt, pt)
        k >>= 1
    return acc


def pt_encode(pt):
    x, y = pt
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def pt_decode(b):
    """Decodes 32 bytes to a point; None if y >= p or no point has that y."""
    if len(b) != 32:
        return None
    n = int.from_bytes(b, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    if y >= P:
        return None
    x2 = (y * y - 1) * inv(D * y * y + 1) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if (x & 1) != sign:
        x = (P - x) % P
    return (x, y)


def is_small_order(pt):
    return pt_mul(8, pt) == IDENTITY


def is_torsion_free(pt):
    """[L]P is the identity, in extended coordinates (no inversions: this runs per signature)."""
    x, y = pt
    q = (x, y, 1, x * y % P)
    acc = (0, 1, 1, 0)

    def add(a, b):
        x1, y1, z1, t1 = a
        x2, y2, z2, t2 = b
        aa = (y1 - x1) * (y2 - x2) % P
        bb = (y1 + x1) * (y2 + x2) % P
        cc = 2 * D * t1 * t2 % P
        dd = 2 * z1 * z2 % P
        e, f, g, hh = bb - aa, dd - cc, dd + cc, bb + aa
        return (e * f % P, g * hh % P, f * g % P, e * hh % P)

    k = L
    while k:
        if k & 1:
            acc = add(acc, q)
        q = add(q, q)
        k >>= 1
    return acc[0] % P == 0 and (acc[1] - acc[2]) % P == 0


BASE = pt_decode(BASE_Y.to_bytes(32, "little"))


def public_key_ok(b):
    """PeerId acceptance: 32 bytes, y < p, a curve point, not of small order, torsion-free."""
    pt = pt_decode(b)
    return pt is not None and not is_small_order(pt) and is_torsion_free(pt)


SMALL_ORDER_ENCODINGS = [bytes.fromhex(x) for x in (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
)]


def named_key_ok(b):
    """A token subject: 32 bytes, y < p, not a small-order encoding (not checked for being a
    point until it verifies a signature)."""
    if len(b) != 32:
        return False
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    return y < P and b not in SMALL_ORDER_ENCODINGS


def public_of(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def public_of_by_hand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return pt_encode(pt_mul(a, BASE))


def signed_bytes(label, message):
    return label.encode("ascii") + b"\x00" + message


def sign(seed, label, message):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(signed_bytes(label, message))


def verify_strict(public, label, message, signature):
    """The acceptance rule of identity.md § 2.3; returns None or the reason it fails."""
    return verify_raw(public, signed_bytes(label, message), signature)


def verify_raw(public, m, signature):
    """identity.md § 2.3 over exactly `m` (the label already applied)."""
    if len(public) != 32 or not public_key_ok(public):
        return "public key not acceptable"
    if len(signature) != 64:
        return "signature is not 64 bytes"
    r_bytes, s = signature[:32], int.from_bytes(signature[32:], "little")
    if s >= L:
        return "S >= L"
    r = pt_decode(r_bytes)
    if r is None:
        return "R is not a canonical point encoding"
    if is_small_order(r):
        return "R has small order"
    if not is_torsion_free(r):
        return "R has a torsion component"
    # Cofactorless equation, by hand: R == encode([S]B - [k]A).
    k = int.from_bytes(hashlib.sha512(r_bytes + public + m).digest(), "little") % L
    a = pt_decode(public)
    neg_ka = pt_mul(k, (P - a[0], a[1]))
    if pt_encode(pt_add(pt_mul(s, BASE), neg_ka)) != r_bytes:
        return "equation fails (by hand)"
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, m)
    except InvalidSignature:
        return "equation fails (cryptography)"
    return None


# ---------------------------------------------------------------------------------------------
# Text form (spec: "Text form")

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
PREFIX_PEER, PREFIX_SHELL, PREFIX_INVITE = "peer-", "shell-", "syncshell-invite-"
WHITESPACE = set(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)


class TextError(Exception):
    pass


def text_checksum(prefix, payload):
    return hashlib.sha256(prefix.encode("ascii") + b"\x00" + payload).digest()[:4]


def text_encode(prefix, payload):
    data = payload + text_checksum(prefix, payload)
    nbits = 8 * len(data)
    n = int.from_bytes(data, "big") << (-nbits % 5)
    count = (nbits + 4) // 5
    return prefix + "".join(ALPHABET[(n >> (5 * (count - 1 - i))) & 31] for i in range(count))


def ascii_lower(c):
    return chr(ord(c) + 32) if "A" <= c <= "Z" else c


def text_decode(prefix, text):
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise TextError("too large")
    i = 0
    while i < len(text) and text[i] in WHITESPACE:
        i += 1
    head = text[i : i + len(prefix)]
    if len(head) != len(prefix) or "".join(ascii_lower(c) for c in head) != prefix:
        raise TextError("wrong prefix")
    acc, bits = 0, 0
    for c in text[i + len(prefix) :]:
        if c in WHITESPACE or c == "-":
            continue
        c = {"o": "0", "i": "1", "l": "1"}.get(ascii_lower(c), ascii_lower(c))
        if c not in ALPHABET:
            raise TextError("bad character")
        acc = (acc << 5) | ALPHABET.index(c)
        bits += 5
    nbytes, pad = divmod(bits, 8)
    if pad >= 5 or acc & ((1 << pad) - 1):
        raise TextError("bad checksum (padding)")
    data = (acc >> pad).to_bytes(nbytes, "big")
    if len(data) < 4 or text_checksum(prefix, data[:-4]) != data[-4:]:
        raise TextError("bad checksum")
    return data[:-4]


def check_text(name, prefix, payload, text, exhaustive):
    check(name + ": text encodes the payload", text_encode(prefix, payload) == text)
    try:
        check(name + ": text decodes to the payload", text_decode(prefix, text) == payload)
    except TextError as e:
        check(name + ": text decodes to the payload", False, str(e))
        return
    body = text[len(prefix) :]
    mangled = "  " + prefix.upper()
    for j, c in enumerate(body):
        c = {"0": "O", "1": "l"}.get(c, c.upper())
        mangled += c + ("-\r\n " if j % 6 == 5 else "")
    check(
        name + ": decoding tolerates case, whitespace, '-', O/l",
        text_decode(prefix, mangled + "\n") == payload,
    )
    # Every single-character change to another alphabet symbol must be rejected.
    changes = 0
    accepted = []
    for j in range(len(body)):
        others = [r for r in ALPHABET if r != body[j]]
        for r in others if exhaustive else others[(j * 7) % 31 : (j * 7) % 31 + 1]:
            changes += 1
            changed = prefix + body[:j] + r + body[j + 1 :]
            if not raises(lambda: text_decode(prefix, changed), TextError):
                accepted.append((j, r))
    check(
        "%s: %d one-character changes are all rejected" % (name, changes),
        not accepted,
        "accepted %r" % accepted[:5],
    )
    errs = []
    for label, bad in [
        ("other prefix", "x" + text),
        ("truncated", text[:-1]),
        ("bad character 'u'", text[:-1] + "u"),
        ("extra character", text + "0"),
        ("prefix only", prefix),
    ]:
        if not raises(lambda: text_decode(prefix, bad), TextError):
            errs.append(label)
    check(name + ": malformed texts are rejected", not errs, ", ".join(errs))


# ---------------------------------------------------------------------------------------------
# Objects (spec: "Objects")


def h(s):
    return bytes.fromhex(s)


def shell_id_of(genesis_body):
    return hashlib.sha256(b"syncshell/v1/shell-id\x00" + genesis_body).digest()


def name_ok(name):
    b = name.encode("utf-8")
    ctrl = any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name)
    return 1 <= len(b) <= MAX_SHELL_NAME_LEN and not ctrl


def enc_genesis_body(name, owner, created_at_ms, nonce):
    return e_uint(1, 1) + e_bytes(2, name) + e_bytes(3, owner) + e_uint(4, created_at_ms) + e_bytes(5, nonce)


def enc_token_body(shell_id, subject, role, issuer, issued, expires, token_id):
    return (
        e_uint(1, 1) + e_bytes(2, shell_id) + e_bytes(3, subject) + e_uint(4, role)
        + e_bytes(5, issuer) + e_uint(6, issued) + e_uint(7, expires) + e_bytes(8, token_id)
    )


def open_envelope(buf, label):
    """Decodes an envelope and checks version, signer key, signature length and signature."""
    env = decode("SignedEnvelope", buf)
    assert env["version"] == 1, "envelope version"
    assert public_key_ok(env["signer"]), "signer key"
    assert len(env["signature"]) == 64, "signature length"
    err = verify_strict(env["signer"], label, env["body"], env["signature"])
    assert err is None, err
    return env


def parse_token(env_bytes):
    """MemberToken decoding with every structural check; returns a dict."""
    env = open_envelope(env_bytes, CTX_TOKEN)
    b = decode("MemberTokenBody", env["body"])
    assert len(env["body"]) <= MAX_WIRE_LEN
    assert b["version"] == 1, "token version"
    assert len(b["shell_id"]) == 32, "shell id length"
    assert named_key_ok(b["subject"]), "bad subject key"
    assert env["signer"] == b["issuer"], "not signed by its issuer"
    assert b["subject"] != b["issuer"], "issued to itself"
    assert b["role"] in (ROLE_MEMBER, ROLE_ADMIN), "role"
    assert len(b["token_id"]) == 16, "token id length"
    b["envelope"] = env
    return b


class Refused(Exception):
    pass


def chain_verify(tokens, shell_id, owner, now):
    """TokenChain verification; returns (peer, role, expires_at_ms or 0, chain keys)."""
    if not tokens:
        raise Refused("BrokenChain: empty")
    if len(tokens) > MAX_CHAIN_DEPTH:
        raise Refused("ChainTooDeep")
    for t in tokens:
        if t["shell_id"] != shell_id:
            raise Refused("WrongShell")
        if t["subject"] == owner:
            raise Refused("BrokenChain: owner holds no token")
        if t["issued_at_ms"] > now + MAX_CLOCK_SKEW_MS:
            raise Refused("NotYetValid")
        if t["expires_at_ms"] != 0 and now >= t["expires_at_ms"]:
            raise Refused("Expired")
    for child, parent in zip(tokens, tokens[1:]):
        if child["issuer"] != parent["subject"]:
            raise Refused("BrokenChain: issuer is not the next subject")
        if parent["role"] != ROLE_ADMIN:
            raise Refused("NotAuthorized: only admins issue")
        if child["role"] > parent["role"]:
            raise Refused("NotAuthorized: grants more")
        if parent["expires_at_ms"] != 0 and (
            child["expires_at_ms"] == 0 or child["expires_at_ms"] > parent["expires_at_ms"]
        ):
            raise Refused("OutlivesIssuer")
        if child["issued_at_ms"] < parent["issued_at_ms"]:
            raise Refused("BrokenChain: issued before its issuer's token")
    if tokens[-1]["issuer"] != owner:
        raise Refused("BrokenChain: does not end at the owner")
    keys = [t["subject"] for t in tokens]
    if len(set(keys)) != len(keys):
        raise Refused("BrokenChain: a key appears twice")
    return tokens[0]["subject"], tokens[0]["role"], tokens[0]["expires_at_ms"], keys


ROLE_OWNER = 3


def admit(peer, tokens, shell_id, owner, now):
    if peer == owner:
        if tokens:
            raise Refused("BrokenChain: owner holds no token")
        return peer, ROLE_OWNER, 0, []
    adm = chain_verify(tokens, shell_id, owner, now)
    if adm[0] != peer:
        raise Refused("BrokenChain: names another peer")
    return adm


def refused_with(fn, prefix):
    try:
        fn()
    except Refused as e:
        return str(e).startswith(prefix)
    return False


def invite_key_seed(secret):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"syncshell/v1/invite-key").derive(secret)


def key_file_aad(version, kdf, m, t, p, salt, aead, nonce, public_key):
    # Built from the fields as read: the checksum covers the raw version, kdf and aead too.
    aad = b"syncshell/v1/key-file\x00"
    for v in (version, kdf, m, t, p):
        aad += v.to_bytes(4, "big")
    return aad + salt + aead.to_bytes(4, "big") + nonce + public_key


def key_file_checksum(aad, ciphertext):
    return hashlib.sha256(b"syncshell/v1/key-file-checksum\x00" + aad + ciphertext).digest()[:16]


def kdf_params_ok(m, t, p):
    return 1 <= p <= 16 and 1 <= t <= 64 and 8 * p <= m <= 1024 * 1024


# ---------------------------------------------------------------------------------------------
# The vectors


def run_peer_ids(v, secrets):
    # Peer ids --------------------------------------------------------------------------------
    for i, p in enumerate(v["peer_ids"]):
        seed, public = h(p["secret"]), h(p["public"])
        name = "peer_ids[%d]" % i
        check(name + ": public key = Ed25519(secret)", public_of(seed) == public)
        check(name + ": public key by hand (SHA-512, clamp, [a]B)", public_of_by_hand(seed) == public)
        check(name + ": acceptable as a PeerId", public_key_ok(public))
        check_text(name, PREFIX_PEER, public, p["text"], exhaustive=True)
        secrets[public] = seed

    # PeerId acceptance rules on fixed inputs.
    non_canonical = bytes([0xED] + [0xFF] * 30 + [0x7F])  # y = p
    identity_pt = bytes([1] + [0] * 31)  # y = 1, small order
    not_a_point = bytes([2] + [0] * 31)  # y = 2 has no x on the curve
    check("PeerId: y >= p is refused", not public_key_ok(non_canonical))
    check("PeerId: small-order point (identity) is refused", not public_key_ok(identity_pt))
    check(
        "PeerId: y = 2 is not a point",
        pt_decode(not_a_point) is None and not public_key_ok(not_a_point),
    )
    # The spec's list of small-order encodings: every entry decodes to a point of small order,
    # and the 8 points generated by an order-8 point all have their encoding in the list.
    listed_ok = all(
        pt_decode(e) is not None and is_small_order(pt_decode(e)) for e in SMALL_ORDER_ENCODINGS
    )
    torsion, pt = [], IDENTITY
    for _ in range(8):
        torsion.append(pt)
        pt = pt_add(pt, pt_decode(SMALL_ORDER_ENCODINGS[8]))
    complete = len(set(torsion)) == 8 and all(pt_encode(t) in SMALL_ORDER_ENCODINGS for t in torsion)
    check("PeerId: the 10 listed small-order encodings are exactly the small-order points",
          listed_ok and complete and len(set(SMALL_ORDER_ENCODINGS)) == 10)
    check("PeerId: none of the listed encodings is acceptable or a valid named key",
          not any(public_key_ok(e) or named_key_ok(e) for e in SMALL_ORDER_ENCODINGS))


def run_signature(v):
    # Signature ---------------------------------------------------------------------------------
    s = v["signature"]
    seed, msg, sig = h(s["secret"]), h(s["message"]), h(s["signature"])
    pub = public_of(seed)
    check("signature: verifies strictly over label || 0x00 || message",
          verify_strict(pub, s["context"], msg, sig) is None)
    check("signature: re-signing gives the same bytes", sign(seed, s["context"], msg) == sig)
    check("signature: refused under another label",
          verify_strict(pub, CTX_TOKEN, msg, sig) is not None)
    check("signature: refused without the 0x00 separator",
          raises(lambda: Ed25519PublicKey.from_public_bytes(pub).verify(
              sig, s["context"].encode() + msg), InvalidSignature))
    s_plus_l = sig[:32] + (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    check("signature: S + L (non-canonical S) is refused",
          verify_strict(pub, s["context"], msg, s_plus_l) == "S >= L")


def run_cctv():
    """The C2SP CCTV Ed25519 edge cases (low-order and mixed-order A and R, non-canonical
    encodings, residues only a cofactored equation cancels): exactly the unflagged vectors
    are accepted (identity.md § 2.3)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates",
                        "syncshell-identity", "tests", "data", "cctv-ed25519vectors.json")
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    wrong = [t["number"] for t in vectors
             if (verify_raw(h(t["key"]), t["msg"].encode(), h(t["sig"])) is None)
             != (not t["flags"])]
    check("signature rule: of %d CCTV edge-case vectors exactly the %d unflagged ones verify"
          % (len(vectors), sum(1 for t in vectors if not t["flags"])), not wrong,
          "disagreeing vectors: %r" % wrong[:10])


def run_objects(v, secrets):
    # Genesis ---------------------------------------------------------------------------------
    g = v["genesis"]
    owner_seed = h(g["owner_secret"])
    owner = public_of(owner_seed)
    for seed_hex in (g["owner_secret"], v["invite"]["inviter_secret"]):
        secrets[public_of(h(seed_hex))] = h(seed_hex)
    env_bytes = h(g["envelope"])
    check("genesis: envelope within MAX_WIRE_LEN", len(env_bytes) <= MAX_WIRE_LEN)
    env = decode("SignedEnvelope", env_bytes)
    check("genesis: envelope version 1", env["version"] == 1)
    check("genesis: envelope body = body", env["body"] == h(g["body"]))
    check("genesis: envelope signature = signature", env["signature"] == h(g["signature"]))
    check("genesis: envelope re-encodes byte for byte",
          enc_envelope(env["body"], env["signer"], env["signature"]) == env_bytes)
    body = decode("ShellGenesisBody", env["body"])
    check("genesis: body version 1", body["version"] == 1)
    check("genesis: name = %r" % g["name"], body["name"] == g["name"])
    check("genesis: name is 1..=64 bytes without control characters", name_ok(body["name"]))
    check("genesis: owner = public(owner_secret)", body["owner"] == owner)
    check("genesis: owner is an acceptable key", public_key_ok(body["owner"]))
    check("genesis: created_at_ms", body["created_at_ms"] == g["created_at_ms"])
    check("genesis: nonce (16 bytes)", body["nonce"] == h(g["nonce"]) and len(body["nonce"]) == 16)
    check("genesis: signer = owner", env["signer"] == owner)
    check("genesis: body re-encodes from the JSON fields",
          enc_genesis_body(g["name"], owner, g["created_at_ms"], h(g["nonce"])) == env["body"])
    check("genesis: signature verifies (" + CTX_GENESIS + ")",
          verify_strict(owner, CTX_GENESIS, env["body"], env["signature"]) is None)
    check("genesis: re-signing gives the same signature",
          sign(owner_seed, CTX_GENESIS, env["body"]) == env["signature"])
    shell_id = shell_id_of(env["body"])
    check("genesis: shell id = SHA-256(label || 0x00 || body)", shell_id == h(g["shell_id"]))
    check_text("genesis shell id", PREFIX_SHELL, shell_id, g["shell_id_text"], exhaustive=True)
    genesis_envelope = env_bytes

    # Token chain -------------------------------------------------------------------------------
    c = v["token_chain"]
    chain_bytes = h(c["encoded"])
    now = c["verify_at_ms"]
    chain = decode("TokenChain", chain_bytes)
    check("token_chain: %d tokens, at most %d" % (len(chain["tokens"]), MAX_CHAIN_DEPTH),
          0 < len(chain["tokens"]) <= MAX_CHAIN_DEPTH)
    check("token_chain: re-encodes from the token envelopes",
          b"".join(e_msg(1, h(t["envelope"])) for t in c["tokens"]) == chain_bytes)
    check("token_chain: as many tokens as the JSON lists", len(chain["tokens"]) == len(c["tokens"]))
    tokens = []
    for i, (raw, tv) in enumerate(zip(chain["tokens"], c["tokens"])):
        name = "token_chain.tokens[%d]" % i
        check(name + ": envelope bytes", raw == h(tv["envelope"]))
        try:
            t = parse_token(raw)
        except (AssertionError, ProtoError) as e:
            check(name + ": parses and verifies", False, str(e))
            continue
        check(name + ": parses, signature verifies (" + CTX_TOKEN + ")", True)
        e = t["envelope"]
        check(name + ": envelope re-encodes byte for byte",
              enc_envelope(e["body"], e["signer"], e["signature"]) == raw)
        check(name + ": body and signature = JSON",
              e["body"] == h(tv["body"]) and e["signature"] == h(tv["signature"]))
        check(name + ": shell id = genesis shell id", t["shell_id"] == shell_id)
        fields_ok = (
            t["issuer"] == h(tv["issuer"]) and t["subject"] == h(tv["subject"])
            and ROLE_NAMES[t["role"]] == tv["role"] and t["issued_at_ms"] == tv["issued_at_ms"]
            and t["expires_at_ms"] == tv["expires_at_ms"] and t["token_id"] == h(tv["token_id"])
        )
        check(name + ": fields = JSON (issuer, subject, role, times, token id)", fields_ok)
        role = {"member": ROLE_MEMBER, "admin": ROLE_ADMIN}[tv["role"]]
        check(name + ": body re-encodes from the JSON fields",
              enc_token_body(shell_id, h(tv["subject"]), role, h(tv["issuer"]), tv["issued_at_ms"],
                             tv["expires_at_ms"], h(tv["token_id"])) == e["body"])
        issuer_seed = secrets.get(t["issuer"])
        check(name + ": re-signing by the issuer gives the same signature",
              issuer_seed is not None and sign(issuer_seed, CTX_TOKEN, e["body"]) == e["signature"])
        tokens.append(t)

    if len(tokens) == len(c["tokens"]):
        try:
            peer, role, expires, keys = chain_verify(tokens, shell_id, owner, now)
            check("token_chain: verifies at verify_at_ms", True)
            check("token_chain: admits the JSON peer", peer == h(c["admits"]))
            check("token_chain: role = " + c["role"], ROLE_NAMES[role] == c["role"])
            check("token_chain: admission expires_at_ms", expires == c["expires_at_ms"])
            check("token_chain: chain keys = subjects, member first",
                  keys == [t["subject"] for t in tokens])
        except Refused as e:
            check("token_chain: verifies at verify_at_ms", False, str(e))
        check("token_chain: admit() names the member",
              admit(h(c["admits"]), tokens, shell_id, owner, now)[0] == h(c["admits"]))
        check("token_chain: admit() with the owner's key and a chain is refused",
              refused_with(lambda: admit(owner, tokens, shell_id, owner, now), "BrokenChain"))
        first_expiry = min(t["expires_at_ms"] for t in tokens if t["expires_at_ms"])
        check("token_chain: valid strictly before the earliest expiry",
              chain_verify(tokens, shell_id, owner, first_expiry - 1) is not None
              and refused_with(lambda: chain_verify(tokens, shell_id, owner, first_expiry), "Expired"))
        latest_issue = max(t["issued_at_ms"] for t in tokens)
        check("token_chain: accepted 5 minutes before issue, refused 1 ms earlier",
              chain_verify(tokens, shell_id, owner, latest_issue - MAX_CLOCK_SKEW_MS) is not None
              and refused_with(lambda: chain_verify(
                  tokens, shell_id, owner, latest_issue - MAX_CLOCK_SKEW_MS - 1), "NotYetValid"))
        check("token_chain: reversed order is refused",
              refused_with(lambda: chain_verify(tokens[::-1], shell_id, owner, now), "BrokenChain"))
        check("token_chain: another shell is refused",
              refused_with(lambda: chain_verify(tokens, bytes(32), owner, now), "WrongShell"))
        check("token_chain: the member's token alone does not reach the owner",
              refused_with(lambda: chain_verify(tokens[:1], shell_id, owner, now), "BrokenChain"))
        check("token_chain: more than 4 tokens is refused",
              refused_with(lambda: chain_verify(tokens * 3, shell_id, owner, now), "ChainTooDeep"))
        demoted = [dict(tokens[0]), dict(tokens[1], role=ROLE_MEMBER)]
        check("token_chain: a member issuer is refused",
              refused_with(lambda: chain_verify(demoted, shell_id, owner, now), "NotAuthorized"))
        forever = [dict(tokens[0], expires_at_ms=0), tokens[1]]
        check("token_chain: a token outliving its issuer's is refused",
              refused_with(lambda: chain_verify(forever, shell_id, owner, now), "OutlivesIssuer"))

    # Invite ------------------------------------------------------------------------------------
    iv = v["invite"]
    code_bytes = h(iv["code"])
    try:
        check("invite: text decodes to the code", text_decode(PREFIX_INVITE, iv["text"]) == code_bytes)
    except TextError as e:
        check("invite: text decodes to the code", False, str(e))
    check_text("invite", PREFIX_INVITE, code_bytes, iv["text"], exhaustive=False)
    check("invite: code within MAX_WIRE_LEN", len(code_bytes) <= MAX_WIRE_LEN)
    code = decode("InviteCode", code_bytes)
    check("invite: code version 1", code["version"] == 1)
    check("invite: secret is 16 bytes", len(code["secret"]) == 16)
    check("invite: code re-encodes", e_uint(1, 1) + e_msg(2, code["invite"]) + e_bytes(3, code["secret"]) == code_bytes)
    inviter_seed = h(iv["inviter_secret"])
    inviter = public_of(inviter_seed)
    invite_env_bytes = code["invite"]
    ienv = decode("SignedEnvelope", invite_env_bytes)
    check("invite: envelope version 1, signer = public(inviter_secret)",
          ienv["version"] == 1 and ienv["signer"] == inviter)
    check("invite: envelope re-encodes",
          enc_envelope(ienv["body"], ienv["signer"], ienv["signature"]) == invite_env_bytes)
    ib = decode("InviteBody", ienv["body"])
    check("invite: body version 1", ib["version"] == 1)
    check("invite: carries the genesis envelope", ib["genesis"] == genesis_envelope)
    inv_chain = decode("TokenChain", ib["inviter_chain"] or b"")
    check("invite: inviter chain = the admin's chain (token_chain.tokens[1:])",
          inv_chain["tokens"] == [h(t["envelope"]) for t in c["tokens"][1:]])
    seed = invite_key_seed(code["secret"])
    invite_key = public_of(seed)
    check("invite: invite key = Ed25519(HKDF-SHA256(secret, info=syncshell/v1/invite-key))",
          invite_key == h(iv["invite_key"]) == ib["invite_key"])
    check("invite: invite key is acceptable", public_key_ok(ib["invite_key"]))
    check("invite: issued/expires = JSON, expires > issued",
          ib["issued_at_ms"] == iv["issued_at_ms"] and ib["expires_at_ms"] == iv["expires_at_ms"]
          and ib["expires_at_ms"] > ib["issued_at_ms"])
    check("invite: max_uses = %d, within 1..=%d" % (iv["max_uses"], MAX_INVITE_USES),
          ib["max_uses"] == iv["max_uses"] and 1 <= ib["max_uses"] <= MAX_INVITE_USES)
    check("invite: role is member (the default)", ib["role"] == ROLE_MEMBER)
    check("invite: hints = JSON, at most %d bytes" % MAX_HINTS_LEN,
          ib["hints"] == h(iv["hints"]) and len(ib["hints"]) <= MAX_HINTS_LEN)
    expected_body = (
        e_uint(1, 1) + e_msg(2, genesis_envelope)
        + e_msg(3, b"".join(e_msg(1, h(t["envelope"])) for t in c["tokens"][1:]))
        + e_bytes(4, h(iv["invite_key"])) + e_uint(5, iv["issued_at_ms"])
        + e_uint(6, iv["expires_at_ms"]) + e_uint(7, iv["max_uses"]) + e_uint(8, ROLE_MEMBER)
        + e_bytes(9, h(iv["hints"]))
    )
    check("invite: body re-encodes from the JSON fields", expected_body == ienv["body"])
    check("invite: signature verifies (" + CTX_INVITE + ")",
          verify_strict(ienv["signer"], CTX_INVITE, ienv["body"], ienv["signature"]) is None)
    check("invite: re-signing gives the same signature",
          sign(inviter_seed, CTX_INVITE, ienv["body"]) == ienv["signature"])
    try:
        inv_tokens = [parse_token(t) for t in inv_chain["tokens"]]
        ok_parse = True
    except (AssertionError, ProtoError):
        inv_tokens, ok_parse = [], False
    check("invite: inviter chain tokens parse and verify", ok_parse)
    named = inv_tokens[0]["subject"] if inv_tokens else owner
    check("invite: signed by the member its chain names (the owner if none)", ienv["signer"] == named)

    def invite_verify(at):
        if at >= ib["expires_at_ms"]:
            raise Refused("Expired")
        if ib["issued_at_ms"] > at + MAX_CLOCK_SKEW_MS:
            raise Refused("NotYetValid")
        _, irole, _, _ = admit(ienv["signer"], inv_tokens, shell_id, owner, at)
        if irole < ROLE_ADMIN:
            raise Refused("NotAuthorized")
        if ib["role"] > irole:
            raise Refused("NotAuthorized")
        return irole

    try:
        check("invite: usable at issued_at_ms (inviter admitted as admin)",
              invite_verify(iv["issued_at_ms"]) == ROLE_ADMIN)
    except Refused as e:
        check("invite: usable at issued_at_ms (inviter admitted as admin)", False, str(e))
    check("invite: usable 1 ms before expiry, refused at expiry",
          invite_verify(iv["expires_at_ms"] - 1) and
          refused_with(lambda: invite_verify(iv["expires_at_ms"]), "Expired"))
    check("invite: text re-encodes from the code", text_encode(PREFIX_INVITE, code_bytes) == iv["text"])

    # Join request ----------------------------------------------------------------------------
    jr = iv["join_request"]
    jr_bytes = h(jr["encoded"])
    check("join_request: within MAX_WIRE_LEN", len(jr_bytes) <= MAX_WIRE_LEN)
    req = decode("JoinRequest", jr_bytes)
    check("join_request: invite proof is 64 bytes", len(req["invite_proof"]) == 64)
    check("join_request: re-encodes",
          e_msg(1, req["request"]) + e_bytes(2, req["invite_proof"]) == jr_bytes)
    renv = decode("SignedEnvelope", req["request"])
    check("join_request: envelope version 1 and re-encodes",
          renv["version"] == 1
          and enc_envelope(renv["body"], renv["signer"], renv["signature"]) == req["request"])
    rb = decode("JoinRequestBody", renv["body"])
    joiner_seed = h(jr["joiner_secret"])
    joiner = public_of(joiner_seed)
    check("join_request: body version 1", rb["version"] == 1)
    check("join_request: carries the invite envelope", rb["invite"] == invite_env_bytes)
    check("join_request: joiner = public(joiner_secret) = signer",
          rb["joiner"] == joiner == renv["signer"] and public_key_ok(joiner))
    check("join_request: requested_at_ms", rb["requested_at_ms"] == jr["requested_at_ms"])
    check("join_request: body re-encodes from the JSON fields",
          e_uint(1, 1) + e_msg(2, invite_env_bytes) + e_bytes(3, joiner)
          + e_uint(4, jr["requested_at_ms"]) == renv["body"])
    check("join_request: joiner signature verifies (" + CTX_JOIN_REQUEST + ")",
          verify_strict(renv["signer"], CTX_JOIN_REQUEST, renv["body"], renv["signature"]) is None)
    check("join_request: invite proof verifies under the invite key (" + CTX_JOIN_PROOF + ")",
          verify_strict(ib["invite_key"], CTX_JOIN_PROOF, renv["body"], req["invite_proof"]) is None)
    check("join_request: re-signing both gives the same signatures",
          sign(joiner_seed, CTX_JOIN_REQUEST, renv["body"]) == renv["signature"]
          and sign(seed, CTX_JOIN_PROOF, renv["body"]) == req["invite_proof"])
    check("join_request: the proof does not verify as the joiner's signature or vice versa",
          verify_strict(ib["invite_key"], CTX_JOIN_PROOF, renv["body"], renv["signature"]) is not None
          and verify_strict(joiner, CTX_JOIN_REQUEST, renv["body"], req["invite_proof"]) is not None)
    at = jr["requested_at_ms"]
    accept_ok = (
        shell_id_of(decode("SignedEnvelope", ib["genesis"])["body"]) == shell_id
        and invite_verify(at) >= ROLE_ADMIN
        and rb["requested_at_ms"] <= at + MAX_CLOCK_SKEW_MS
        and 0 < ib["max_uses"]
    )
    check("join_request: acceptable at requested_at_ms by an empty ledger", accept_ok)


def run_key_file(v):
    # Key file ----------------------------------------------------------------------------------
    k = v["key_file"]
    kf_bytes = h(k["file"])
    check("key_file: at most %d bytes" % MAX_KEY_FILE_LEN, len(kf_bytes) <= MAX_KEY_FILE_LEN)
    kf = decode("KeyFile", kf_bytes)
    check("key_file: version 1, kdf 1 (Argon2id), aead 1 (ChaCha20-Poly1305)",
          kf["version"] == 1 and kf["kdf"] == 1 and kf["aead"] == 1)
    check("key_file: m_cost_kib/t_cost/p_cost = JSON",
          (kf["m_cost_kib"], kf["t_cost"], kf["p_cost"]) == (k["m_cost_kib"], k["t_cost"], k["p_cost"]))
    check("key_file: parameters within bounds",
          kdf_params_ok(kf["m_cost_kib"], kf["t_cost"], kf["p_cost"]))
    check("key_file: salt 16, nonce 12, ciphertext 48, checksum 16 bytes",
          [len(kf[f]) for f in ("salt", "nonce", "ciphertext", "checksum")] == [16, 12, 48, 16])
    member_seed = h(k["secret"])
    check("key_file: public key = public(secret), acceptable",
          kf["public_key"] == public_of(member_seed) and public_key_ok(kf["public_key"]))
    reenc = (
        e_uint(1, 1) + e_uint(2, 1) + e_uint(3, kf["m_cost_kib"]) + e_uint(4, kf["t_cost"])
        + e_uint(5, kf["p_cost"]) + e_bytes(6, kf["salt"]) + e_uint(7, 1) + e_bytes(8, kf["nonce"])
        + e_bytes(9, kf["public_key"]) + e_bytes(10, kf["ciphertext"]) + e_bytes(11, kf["checksum"])
    )
    check("key_file: re-encodes byte for byte", reenc == kf_bytes)
    aad = key_file_aad(kf["version"], kf["kdf"], kf["m_cost_kib"], kf["t_cost"], kf["p_cost"], kf["salt"],
                       kf["aead"], kf["nonce"], kf["public_key"])
    check("key_file: AAD is 106 bytes", len(aad) == 106)
    check("key_file: checksum = SHA-256(label || 0x00 || aad || ciphertext)[0..16]",
          key_file_checksum(aad, kf["ciphertext"]) == kf["checksum"])
    damaged = bytearray(kf["ciphertext"])
    damaged[0] ^= 1
    check("key_file: a damaged ciphertext fails the checksum",
          key_file_checksum(aad, bytes(damaged)) != kf["checksum"])

    def derive(passphrase):
        return Argon2id(salt=kf["salt"], length=32, iterations=kf["t_cost"], lanes=kf["p_cost"],
                        memory_cost=kf["m_cost_kib"]).derive(passphrase)

    key = derive(k["passphrase"].encode("utf-8"))
    try:
        plain = ChaCha20Poly1305(key).decrypt(kf["nonce"], kf["ciphertext"], aad)
        check("key_file: opens with the passphrase, secret = JSON", plain == member_seed)
        check("key_file: opened secret derives the public key", public_of(plain) == kf["public_key"])
    except InvalidTag:
        check("key_file: opens with the passphrase", False, "authentication failed")
    wrong = derive(b"correct horse battery stapler")
    check("key_file: a wrong passphrase fails authentication",
          raises(lambda: ChaCha20Poly1305(wrong).decrypt(kf["nonce"], kf["ciphertext"], aad), InvalidTag))
    other_aad = key_file_aad(kf["version"], kf["kdf"], kf["m_cost_kib"] + 1, kf["t_cost"], kf["p_cost"],
                             kf["salt"], kf["aead"], kf["nonce"], kf["public_key"])
    check("key_file: the AAD binds the parameters",
          raises(lambda: ChaCha20Poly1305(key).decrypt(kf["nonce"], kf["ciphertext"], other_aad), InvalidTag))



# ---------------------------------------------------------------------------------------------
# Negative vectors: this checker's own strict decoders, each returning "accepted" or the name
# of the error the spec gives.


class Fail(Exception):
    """A refusal with the spec's error name."""


def need(ok, error):
    if not ok:
        raise Fail(error)


def proto(schema, buf, depth=0):
    try:
        if depth:
            read_fields(buf, depth)  # the depth rule for a message embedded `depth` deep
        return decode(schema, buf)
    except ProtoError:
        raise Fail("Malformed")


def key_rule(b):
    """The first rule of identity.md § 2.1 that a 32-byte string fails, or None."""
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    if y >= P:
        return "1"
    pt = pt_decode(b)
    if pt is None:
        return "2"
    if is_small_order(pt):
        return "3"
    if not is_torsion_free(pt):
        return "4"
    return None


def envelope_fields(buf, depth=0):
    """§ 4 without the size bound: version, signer, signature length."""
    env = proto("SignedEnvelope", buf, depth)
    need(env["version"] == 1, "UnsupportedVersion")
    need(len(env["signer"]) == 32 and public_key_ok(env["signer"]), "Malformed")
    need(len(env["signature"]) == 64, "Malformed")
    return env


def body_fields(schema, buf):
    """§ 5: size, protobuf, version."""
    need(len(buf) <= MAX_WIRE_LEN, "TooLarge")
    body = proto(schema, buf)
    need(body["version"] == 1, "UnsupportedVersion")
    return body


def sig_ok(key, label, body, signature):
    need(verify_strict(key, label, body, signature) is None, "BadSignature")


def strict_genesis(env_bytes, depth=0):
    """§ 4 and § 6; returns (shell id, owner)."""
    env = envelope_fields(env_bytes, depth)
    b = body_fields("ShellGenesisBody", env["body"])
    need(name_ok(b["name"]), "Malformed")
    need(b["owner"] == env["signer"], "Malformed")
    need(len(b["nonce"]) == 16, "Malformed")
    sig_ok(env["signer"], CTX_GENESIS, env["body"], env["signature"])
    return shell_id_of(env["body"]), b["owner"]


def strict_chain(buf, depth=0):
    """§ 8.1: at most 4 tokens, each structurally checked, then every signature."""
    chain = proto("TokenChain", buf, depth)
    need(len(chain["tokens"]) <= MAX_CHAIN_DEPTH, "ChainTooDeep")
    tokens = []
    for raw in chain["tokens"]:
        env = envelope_fields(raw, depth + 1)
        b = body_fields("MemberTokenBody", env["body"])
        need(len(b["shell_id"]) == 32, "Malformed")
        need(named_key_ok(b["subject"]), "Malformed")
        need(b["issuer"] == env["signer"], "Malformed")
        need(b["subject"] != b["issuer"], "Malformed")
        need(b["role"] in (ROLE_MEMBER, ROLE_ADMIN), "Malformed")
        need(len(b["token_id"]) == 16, "Malformed")
        b["envelope"] = env
        tokens.append(b)
    for t in tokens:
        sig_ok(t["envelope"]["signer"], CTX_TOKEN, t["envelope"]["body"], t["envelope"]["signature"])
    return tokens


def strict_invite(env_bytes, depth=0):
    """§ 4 and § 9.1 (well-formedness); returns (envelope, body, inviter chain tokens)."""
    env = envelope_fields(env_bytes, depth)
    b = body_fields("InviteBody", env["body"])
    need(b["genesis"] is not None, "Malformed")
    strict_genesis(b["genesis"], 1)
    tokens = strict_chain(b["inviter_chain"] or b"", 1)
    need(len(b["invite_key"]) == 32 and public_key_ok(b["invite_key"]), "Malformed")
    need(1 <= b["max_uses"] <= MAX_INVITE_USES, "Malformed")
    need(len(b["hints"]) <= MAX_HINTS_LEN, "TooLarge")
    need(b["expires_at_ms"] > b["issued_at_ms"], "Malformed")
    genesis_owner = decode("ShellGenesisBody", decode("SignedEnvelope", b["genesis"])["body"])["owner"]
    need(env["signer"] == (tokens[0]["subject"] if tokens else genesis_owner), "Malformed")
    sig_ok(env["signer"], CTX_INVITE, env["body"], env["signature"])
    need(b["role"] in (ROLE_MEMBER, ROLE_ADMIN), "Malformed")
    return env, b, tokens


def strict_invite_code(buf):
    """§ 9.3."""
    need(len(buf) <= MAX_WIRE_LEN, "TooLarge")
    code = proto("InviteCode", buf)
    need(code["version"] == 1, "UnsupportedVersion")
    need(len(code["secret"]) == 16, "Malformed")
    need(code["invite"] is not None, "Malformed")
    _, b, _ = strict_invite(code["invite"], 1)
    need(public_of(invite_key_seed(code["secret"])) == b["invite_key"], "Malformed")
    return code


def strict_join_request(buf):
    """§ 10; returns (joiner, invite envelope, invite body, inviter chain tokens, requested at)."""
    need(len(buf) <= MAX_WIRE_LEN, "TooLarge")
    req = proto("JoinRequest", buf)
    need(req["request"] is not None, "Malformed")
    env = envelope_fields(req["request"], 1)
    need(len(req["invite_proof"]) == 64, "Malformed")
    b = body_fields("JoinRequestBody", env["body"])
    need(b["invite"] is not None, "Malformed")
    ienv, ib, tokens = strict_invite(b["invite"], 1)
    need(b["joiner"] == env["signer"], "Malformed")
    sig_ok(env["signer"], CTX_JOIN_REQUEST, env["body"], env["signature"])
    sig_ok(ib["invite_key"], CTX_JOIN_PROOF, env["body"], req["invite_proof"])
    return b["joiner"], ienv, ib, tokens, b["requested_at_ms"]


def outcome(fn):
    try:
        fn()
    except Fail as e:
        return str(e)
    return "accepted"


SCHEMAS["InviteLedger"] = {1: ("version", "uint32", False), 2: ("entries", "message", True)}
SCHEMAS["InviteLedgerEntry"] = {
    1: ("invite_key", "bytes", False),
    2: ("expires_at_ms", "uint64", False),
    3: ("joiners", "bytes", True),
}
MAX_LEDGER_JOINERS = 65536
DEFAULT_TOKEN_VALIDITY_MS = 180 * 24 * 3600 * 1000


def strict_ledger(buf):
    """§ 11.2; returns {invite key: (expires_at_ms, [joiners])}."""
    need(len(buf) <= MAX_LEDGER_JOINERS * 96, "TooLarge")
    msg = proto("InviteLedger", buf)
    need(msg["version"] == 1, "UnsupportedVersion")
    entries = [proto("InviteLedgerEntry", e, 1) for e in msg["entries"]]
    need(len(entries) <= MAX_LEDGER_JOINERS, "TooLarge")
    need(sum(len(e["joiners"]) for e in entries) <= MAX_LEDGER_JOINERS, "TooLarge")
    out = {}
    for e in entries:
        need(len(e["invite_key"]) == 32 and public_key_ok(e["invite_key"]), "Malformed")
        need(1 <= len(e["joiners"]) <= MAX_INVITE_USES, "Malformed")
        need(all(len(j) == 32 and public_key_ok(j) for j in e["joiners"]), "Malformed")
        need(len(set(e["joiners"])) == len(e["joiners"]), "Malformed")
        need(e["invite_key"] not in out, "Malformed")
        out[e["invite_key"]] = (e["expires_at_ms"], list(e["joiners"]))
    return out


def encode_ledger(ledger):
    out = e_uint(1, 1)
    for key in sorted(ledger):
        expires, joiners = ledger[key]
        out += e_msg(2, e_bytes(1, key) + e_uint(2, expires) + b"".join(e_bytes(3, j) for j in joiners))
    return out


def cofactored_holds(public, label, message, sig):
    """[8]([S]B - R - [k]A) is the identity, with R's y read mod p (what a lenient decoder does)."""
    n = int.from_bytes(sig[:32], "little")
    y = (n & ((1 << 255) - 1)) % P
    r = pt_decode((y | (n >> 255) << 255).to_bytes(32, "little"))
    if r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    k = int.from_bytes(hashlib.sha512(sig[:32] + public + signed_bytes(label, message)).digest(),
                       "little") % L
    a = pt_decode(public)
    neg = lambda pt: ((P - pt[0]) % P, pt[1])
    diff = pt_add(pt_add(pt_mul(s, BASE), neg(r)), neg(pt_mul(k, a)))
    return pt_mul(8, diff) == IDENTITY


STEP_OF_REASON = {"S >= L": "2", "R is not a canonical point encoding": "3", "R has small order": "3",
                  "R has a torsion component": "3"}


def run_negatives(v):
    for k in v["invalid_keys"]:
        key = h(k["key"])
        check("invalid key (%s): refused, rule %s" % (k["why"], k["rule"]),
              k["error"] == "Malformed" and not public_key_ok(key) and key_rule(key) == k["rule"])
    for sv in v["invalid_signatures"]:
        pub, msg, sig = h(sv["public"]), h(sv["message"]), h(sv["signature"])
        reason = verify_strict(pub, sv["context"], msg, sig)
        step = STEP_OF_REASON.get(reason, "4" if reason else None)
        check("invalid signature (%s): refused at step %s" % (sv["why"], sv["step"]),
              sv["error"] == "BadSignature" and public_key_ok(pub) and step == sv["step"], str(reason))
        check("invalid signature (%s): the cofactored equation %s" % (
            sv["why"], "holds" if sv["cofactored_equation_holds"] else "fails"),
            cofactored_holds(pub, sv["context"], msg, sig) == sv["cofactored_equation_holds"])

    names = {"too large": "TooLarge", "wrong prefix": "WrongPrefix", "bad character": "BadCharacter"}
    for t in v["texts"]:
        prefix = {"peer": PREFIX_PEER, "shell": PREFIX_SHELL}[t["object"]]
        try:
            payload = text_decode(prefix, t["text"])
            got = "accepted"
            if len(payload) != 32 or (t["object"] == "peer" and not public_key_ok(payload)):
                got = "Malformed"
        except TextError as e:
            got = names.get(str(e), "BadChecksum" if str(e).startswith("bad checksum") else str(e))
        check("%s text (%s): %s" % (t["object"], t["why"], t["error"]), got == t["error"], got)

    decoders = {"genesis": strict_genesis, "token_chain": strict_chain,
                "invite_code": strict_invite_code, "join_request": strict_join_request}
    for f in v["frames"]:
        buf = h(f["bytes"])
        got = outcome(lambda: decoders[f["object"]](buf))
        check("%s (%s): %s" % (f["object"], f["why"], f["error"]), got == f["error"], got)

    genesis = decode("SignedEnvelope", h(v["genesis"]["envelope"]))
    shell_id = shell_id_of(genesis["body"])
    owner = decode("ShellGenesisBody", genesis["body"])["owner"]
    for c in v["chain_checks"]:
        tokens = strict_chain(h(c["chain"]))
        try:
            chain_verify(tokens, shell_id, owner, c["verify_at_ms"])
            got = "accepted"
        except Refused as e:
            got = str(e).split(":")[0]
        check("token chain (%s): %s" % (c["why"], c["error"]), got == c["error"], got)

    # The invite ledger: replay the accepts of § 11.1 on an empty ledger.
    lv = v["invite_ledger"]
    now = lv["accept_at_ms"]
    inviter = public_of(h(lv["inviter_secret"]))
    for i, code in enumerate(lv["invites"]):
        check("invite_ledger.invites[%d]: decodes" % i, outcome(lambda: strict_invite_code(h(code))) == "accepted")
    requests = []
    for r in lv["requests"]:
        joiner, ienv, ib, tokens, at = strict_join_request(h(r["encoded"]))
        check("invite_ledger: request by public(joiner_secret) with invite %d" % r["invite"],
              joiner == public_of(h(r["joiner_secret"]))
              and ienv == decode("SignedEnvelope", strict_invite_code(h(lv["invites"][r["invite"]]))["invite"]))
        requests.append((joiner, ienv, ib, tokens, at))
    ledger = {}

    def accept(acceptor, req):
        joiner, ienv, ib, tokens, at = req
        need(shell_id_of(decode("SignedEnvelope", ib["genesis"])["body"]) == shell_id, "WrongShell")
        need(acceptor == ienv["signer"], "NotInviter")
        need(now < ib["expires_at_ms"], "Expired")
        need(ib["issued_at_ms"] <= now + MAX_CLOCK_SKEW_MS, "NotYetValid")
        need(at <= now + MAX_CLOCK_SKEW_MS, "NotYetValid")
        expires, joiners = ledger.get(ib["invite_key"], (ib["expires_at_ms"], []))
        if joiner not in joiners:
            need(len(joiners) < ib["max_uses"], "InviteUsedUp")
            ledger[ib["invite_key"]] = (expires, joiners + [joiner])

    got = outcome(lambda: accept(owner, requests[lv["refused_at_owner"]["request"]]))
    check("invite_ledger: the owner refuses a request for the admin's invite: NotInviter",
          got == lv["refused_at_owner"]["error"], got)
    for i in range(len(requests)):
        if i == lv["refused_over_max_uses"]["request"]:
            got = outcome(lambda: accept(inviter, requests[i]))
            check("invite_ledger: request %d is over its invite's max_uses: InviteUsedUp" % i,
                  got == lv["refused_over_max_uses"]["error"], got)
        else:
            check("invite_ledger: request %d accepted at its inviter" % i,
                  outcome(lambda: accept(inviter, requests[i])) == "accepted")
    check("invite_ledger: encoded = the ledger the accepts leave (sorted by invite key)",
          encode_ledger(ledger) == h(lv["encoded"]))
    check("invite_ledger: encoded decodes to the same ledger", strict_ledger(h(lv["encoded"])) == ledger)
    joiner, _, ib, inviter_tokens, _ = requests[0]
    chain = strict_chain(h(lv["accepted_chain_of_request_0"]))
    try:
        peer, role, expires, _ = chain_verify(chain, shell_id, owner, now)
        inviter_expiry = inviter_tokens[0]["expires_at_ms"]
        want = min(now + DEFAULT_TOKEN_VALIDITY_MS, inviter_expiry) if inviter_expiry else now + DEFAULT_TOKEN_VALIDITY_MS
        check("invite_ledger: the accepted chain = [token by the inviter] || the inviter's chain, "
              "role of the invite, expiry min(now + 180 days, the inviter's)",
              peer == joiner and role == ib["role"] and expires == want
              and chain[0]["issuer"] == inviter and chain[0]["issued_at_ms"] == now
              and [t["envelope"] for t in chain[1:]] == [t["envelope"] for t in inviter_tokens])
    except Refused as e:
        check("invite_ledger: the accepted chain verifies", False, str(e))
    for bad in lv["invalid"]:
        buf = h(bad["bytes"]) + h(bad.get("then_repeat", "")) * bad.get("times", 0)
        got = outcome(lambda: strict_ledger(buf))
        check("invite_ledger (%s): %s" % (bad["why"], bad["error"]), got == bad["error"], got)



# ---------------------------------------------------------------------------------------------
# The test-vector RNG (identity.md § 16): rand_chacha 0.3's ChaCha20Rng::seed_from_u64.


def seed_from_u64(state):
    """rand_core 0.6's SeedableRng::seed_from_u64: eight PCG32 outputs, little-endian."""
    mask = (1 << 64) - 1
    seed = b""
    for _ in range(8):
        state = (state * 6364136223846793005 + 11634580027462260723) & mask
        xorshifted = (((state >> 18) ^ state) >> 27) & 0xFFFFFFFF
        rot = state >> 59
        seed += (((xorshifted >> rot) | (xorshifted << (-rot & 31))) & 0xFFFFFFFF).to_bytes(4, "little")
    return seed


class VectorRng:
    """ChaCha20Rng: the ChaCha20 keystream (key = the seed, 64-bit block counter from 0, stream
    0) read as 32-bit little-endian words; fill_bytes(n) takes ceil(n / 4) whole words."""

    def __init__(self, seed_u64):
        # cryptography's 16-byte ChaCha20 nonce is words 12..15: counter and stream, all zero.
        self._enc = Cipher(algorithms.ChaCha20(seed_from_u64(seed_u64), bytes(16)), None).encryptor()

    def fill_bytes(self, n):
        return self._enc.update(bytes(-(-n // 4) * 4))[:n]

    def next_u32(self):
        return int.from_bytes(self._enc.update(bytes(4)), "little")

    def next_u64(self):
        return int.from_bytes(self._enc.update(bytes(8)), "little")


def run_rng(v):
    check("rng: seed_from_u64(0) expands to the documented key",
          seed_from_u64(0).hex() == "ecf273f981b5cd4587f0467306ad6cadd0d0a3e33317e767f29bea72d78a7dfe")
    rng = VectorRng(v["rng_seed"])
    check("rng: the first draw of ChaCha20Rng::seed_from_u64(0x5eed) is the genesis nonce",
          rng.fill_bytes(16) == h(v["genesis"]["nonce"]))


def main():
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "identity.json")
    path = sys.argv[1] if len(sys.argv) > 1 else default
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    secrets = {}  # public key -> seed, for re-signing (Ed25519 signatures are deterministic)
    sections = [
        ("peer ids", lambda: run_peer_ids(vectors, secrets)),
        ("signature", lambda: run_signature(vectors)),
        ("signature rule", run_cctv),
        ("genesis, token chain, invite, join request", lambda: run_objects(vectors, secrets)),
        ("key file", lambda: run_key_file(vectors)),
        ("negative vectors", lambda: run_negatives(vectors)),
        ("test-vector RNG", lambda: run_rng(vectors)),
    ]
    for name, section in sections:
        try:
            section()
        except Exception as e:  # a crash is one more failure, reported, not a traceback
            check(name + ": checks ran to completion", False, "%s: %s" % (type(e).__name__, e))
    print("%d passed, %d failed" % (PASSED, FAILED))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
