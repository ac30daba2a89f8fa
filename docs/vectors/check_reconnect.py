#!/usr/bin/env python3
"""Independent checker for the syncshell-reconnect known-answer vectors.

Usage: python3 check_reconnect.py [path/to/reconnect.json]

Follows docs/spec/reconnect.md only (and docs/spec/identity.md and docs/spec/revocation.md,
through the helpers of check_identity.py next to this file: protobuf by hand, strict Ed25519,
token chains). Needs Python 3.8+ and the `cryptography` package; no protobuf package. X25519 and
HKDF are computed twice: by hand (RFC 7748, RFC 5869) and with `cryptography`. Prints one line
per check and ends with "N passed, M failed"; the exit status is non-zero when a check fails.
"""

import hashlib
import hmac
import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check_identity as ci  # noqa: E402  (the identity checker's helpers)
from check_identity import (  # noqa: E402
    CTX_GENESIS,
    MAX_CHAIN_DEPTH,
    MAX_WIRE_LEN,
    ROLE_MEMBER,
    ROLE_OWNER,
    ProtoError,
    Refused,
    decode,
    e_bytes,
    e_msg,
    e_uint,
    enc_envelope,
    h,
    public_key_ok,
    public_of,
    read_fields,
    shell_id_of,
    sign,
    verify_strict,
)
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import (  # noqa: E402
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms  # noqa: E402
from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: E402

# Reporting: the identity checker's counters and `check`, so one tally covers both.
check = ci.check


def refused(fn, prefix):
    """True when fn() raises Refused with a message starting with prefix."""
    try:
        fn()
    except Refused as e:
        return str(e).startswith(prefix)
    return False


# ---------------------------------------------------------------------------------------------
# Constants (reconnect.md § 15)

CTX_RESPONDER = "syncshell/v1/handshake-responder"
CTX_INITIATOR = "syncshell/v1/handshake-initiator"
CTX_TOKEN = "syncshell/v1/member-token"
TRANSCRIPT_LABEL = b"syncshell/v1/handshake-transcript"
SESSION_KEY_INFO = b"syncshell/v1/session-key"
SESSION_ID_INFO = b"syncshell/v1/session-id"

HANDSHAKE_TIMEOUT_MS = 10 * 1000
MAX_MESSAGE_AGE_MS = 5 * 60 * 1000
MAX_CHANNEL_BINDING_LEN = 1024
MAX_MESSAGE_LEN = 16 * 1024
MAX_REMEMBERED_NONCES = 65536

KIND_HELLO, KIND_CHALLENGE, KIND_PROOF = 2, 3, 4
KIND_NAMES = {KIND_HELLO: "hello", KIND_CHALLENGE: "challenge", KIND_PROOF: "proof"}

# Schemas from proto/reconnect.proto, in check_identity's format.
ci.SCHEMAS.update({
    "Offer": {
        1: ("version", "uint32", False),
        2: ("shell_id", "bytes", False),
        3: ("peer", "bytes", False),
        4: ("chain", "bytes", False),
        5: ("nonce", "bytes", False),
        6: ("ephemeral", "bytes", False),
        7: ("sent_at_ms", "uint64", False),
    },
    "Challenge": {
        1: ("offer", "bytes", False),
        2: ("signature", "bytes", False),
    },
})

# ---------------------------------------------------------------------------------------------
# Wire format (reconnect.md § 3)


def decode_message(buf):
    """HandshakeMessage: returns (version, kind field number or None, kind value).

    `kind` is a oneof: the last of fields 2, 3, 4 on the wire is the one set; a repeated
    `challenge` (field 3) right after another merges into it, like any embedded message."""
    version, kind, value = 0, None, None
    for field, wt, v in read_fields(buf):
        if field == 1:
            if wt != 0:
                raise ProtoError("wrong wire type for version")
            version = v & 0xFFFFFFFF
        elif field in (KIND_HELLO, KIND_CHALLENGE, KIND_PROOF):
            if wt != 2:
                raise ProtoError("wrong wire type for " + KIND_NAMES[field])
            if field == KIND_CHALLENGE and kind == KIND_CHALLENGE:
                value = value + v
            else:
                value = v
            kind = field
    return version, kind, value


def enc_offer(shell_id, peer, chain, nonce, ephemeral, sent_at_ms):
    return (
        e_uint(1, 1) + e_bytes(2, shell_id) + e_bytes(3, peer) + e_bytes(4, chain)
        + e_bytes(5, nonce) + e_bytes(6, ephemeral) + e_uint(7, sent_at_ms)
    )


def enc_message(kind, value):
    """The oneof field is written even when empty (a set oneof is always emitted)."""
    return e_uint(1, 1) + e_msg(kind, value)


def enc_challenge(offer, signature):
    return e_bytes(1, offer) + e_bytes(2, signature)


# ---------------------------------------------------------------------------------------------
# Transcript, signatures, X25519, HKDF (reconnect.md § 5-8)


def u32be(n):
    return n.to_bytes(4, "big")


def transcript(cb, hello_offer, responder_offer):
    data = TRANSCRIPT_LABEL + b"\x00"
    for part in (cb, hello_offer, responder_offer):
        data += u32be(len(part)) + part
    return hashlib.sha256(data).digest()


X_P = 2**255 - 19
A24 = 121665


def clamp(k):
    """RFC 7748 decodeScalar25519, as bytes: clear bits 0-2 and 255, set bit 254."""
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return bytes(k)


def x25519_by_hand(k, u):
    """RFC 7748 § 5: clamp k, mask the top bit of u, Montgomery ladder, canonical output."""
    k = int.from_bytes(clamp(k), "little")
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        kt = (k >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = (x2 + z2) % X_P, (x2 - z2) % X_P
        aa, bb = a * a % X_P, b * b % X_P
        e = (aa - bb) % X_P
        c, d = (x3 + z3) % X_P, (x3 - z3) % X_P
        da, cb = d * a % X_P, c * b % X_P
        x3 = (da + cb) ** 2 % X_P
        z3 = x1 * (da - cb) ** 2 % X_P
        x2 = aa * bb % X_P
        z2 = e * (aa + A24 * e) % X_P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, X_P - 2, X_P) % X_P).to_bytes(32, "little")


X25519_BASE = (9).to_bytes(32, "little")


def x25519_public(secret):
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()


def x25519_agree(secret, peer_public):
    """The agreement of § 7: the shared secret, or Refused("LowOrderKey") when it is all zero."""
    shared = x25519_by_hand(secret, peer_public)
    if shared == bytes(32):
        raise Refused("LowOrderKey")
    return shared


def hkdf_by_hand(salt, ikm, info, length):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def hkdf_lib(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def derive(shared, t):
    return hkdf_by_hand(t, shared, SESSION_KEY_INFO, 32), hkdf_by_hand(t, shared, SESSION_ID_INFO, 16)


# ---------------------------------------------------------------------------------------------
# Checking an offer (reconnect.md § 9), with the identity and revocation rules


class Local:
    """One side: its key, the shell (owner, shell id), revoked keys, and its replay guard."""

    def __init__(self, own_key, owner, shell_id):
        self.own_key, self.owner, self.shell_id = own_key, owner, shell_id
        self.revoked = set()
        self.guard = {}  # nonce -> until (§ 11); insertion order is the dict's order


def chain_decode(buf):
    """identity.md § 8.1, signatures included; failures map to NotAdmitted (reconnect.md § 1)."""
    if len(buf) > MAX_WIRE_LEN:
        raise Refused("NotAdmitted: token chain too large")
    try:
        raw = decode("TokenChain", buf)["tokens"]
    except ProtoError as e:
        raise Refused("NotAdmitted: token chain: %s" % e)
    if len(raw) > MAX_CHAIN_DEPTH:
        raise Refused("NotAdmitted: ChainTooDeep")
    tokens = []
    for t in raw:
        try:
            tokens.append(ci.parse_token(t))
        except (AssertionError, ProtoError) as e:
            raise Refused("NotAdmitted: token: %s" % e)
    return tokens


def admit(local, peer, tokens, now):
    """revocation.md § 3.3 admit, with the error mapping of reconnect.md § 1."""
    try:
        adm = ci.admit(peer, tokens, local.shell_id, local.owner, now)
    except Refused as e:
        why = str(e)
        if why.startswith("WrongShell"):
            raise Refused("WrongShell: a token of another shell")
        if why.startswith("Expired") or why.startswith("NotYetValid"):
            raise Refused("Expired: " + why)
        raise Refused("NotAdmitted: " + why)
    for key in adm[3]:
        if key in local.revoked:
            raise Refused("Revoked: " + key.hex()[:16])
    return adm


def guard_check(local, nonce, sent_at, now):
    """§ 11: forget from the front while expired, then Replay, then Busy, then remember."""
    for n in list(local.guard):
        if local.guard[n] > now:
            break
        del local.guard[n]
    if nonce in local.guard:
        raise Refused("Replay: nonce seen")
    if len(local.guard) >= MAX_REMEMBERED_NONCES:
        raise Refused("Busy")
    local.guard[nonce] = max(sent_at, now) + MAX_MESSAGE_AGE_MS


def check_offer(buf, local, now):
    """§ 9, in order; returns (offer dict, admission)."""
    try:
        o = decode("Offer", buf)
    except ProtoError:
        raise Refused("Malformed: offer is not protobuf")
    if o["version"] != 1:
        raise Refused("UnsupportedVersion: offer version %d" % o["version"])
    if o["shell_id"] != local.shell_id:
        raise Refused("WrongShell")
    if len(o["peer"]) != 32 or not public_key_ok(o["peer"]):
        raise Refused("Malformed: bad peer key")
    if o["peer"] == local.own_key:
        raise Refused("Reflection")
    if len(o["nonce"]) != 32:
        raise Refused("Malformed: nonce is 32 bytes")
    if len(o["ephemeral"]) != 32:
        raise Refused("Malformed: ephemeral key is 32 bytes")
    lo, hi = max(now - MAX_MESSAGE_AGE_MS, 0), min(now + MAX_MESSAGE_AGE_MS, 2**64 - 1)
    if not lo <= o["sent_at_ms"] <= hi:
        raise Refused("Replay: stale or future")
    tokens = chain_decode(o["chain"])
    adm = admit(local, o["peer"], tokens, now)
    guard_check(local, o["nonce"], o["sent_at_ms"], now)
    return o, adm


# ---------------------------------------------------------------------------------------------
# The vector generator's randomness (reconnect.md § 16): rand_chacha 0.3 ChaCha20Rng


def chacha20rng_stream(seed_u64, n):
    """`SeedableRng::seed_from_u64` (PCG32 expansion of the u64 into a 32-byte key), then the
    ChaCha20 keystream with block counter 0 and stream 0; fill_bytes hands it out in order."""
    mul, inc, mask = 6364136223846793005, 11634580027462260723, 2**64 - 1
    state, key = seed_u64, b""
    for _ in range(8):
        state = (state * mul + inc) & mask
        xs = (((state >> 18) ^ state) >> 27) & 0xFFFFFFFF
        rot = state >> 59
        key += (((xs >> rot) | (xs << ((32 - rot) & 31))) & 0xFFFFFFFF).to_bytes(4, "little")
    return Cipher(algorithms.ChaCha20(key, bytes(16)), None).encryptor().update(bytes(n))


# ---------------------------------------------------------------------------------------------
# The vectors


def run(v):
    now = v["now_ms"]
    cb = h(v["channel_binding"])
    i_seed, r_seed = h(v["initiator_secret"]), h(v["responder_secret"])
    i_key, r_key = public_of(i_seed), public_of(r_seed)
    i_nonce, r_nonce = h(v["initiator_nonce"]), h(v["responder_nonce"])
    i_eph_secret, r_eph_secret = h(v["initiator_ephemeral_secret"]), h(v["responder_ephemeral_secret"])
    hello_msg, challenge_msg, proof_msg = h(v["hello"]), h(v["challenge"]), h(v["proof"])

    check("inputs: channel binding is %d bytes, at most %d" % (len(cb), MAX_CHANNEL_BINDING_LEN),
          len(cb) <= MAX_CHANNEL_BINDING_LEN)
    check("inputs: nonces are 32 bytes, ephemeral secrets 32 bytes",
          all(len(x) == 32 for x in (i_nonce, r_nonce, i_eph_secret, r_eph_secret)))

    # Genesis (identity § 4, § 6) -------------------------------------------------------------
    env = decode("SignedEnvelope", h(v["genesis"]))
    g = decode("ShellGenesisBody", env["body"])
    check("genesis: envelope version 1, body version 1", env["version"] == 1 and g["version"] == 1)
    check("genesis: owner = signer = public(responder_secret): the responder is the owner",
          g["owner"] == env["signer"] == r_key)
    check("genesis: name %r, nonce 16 bytes" % g["name"], ci.name_ok(g["name"]) and len(g["nonce"]) == 16)
    check("genesis: signature verifies strictly under " + CTX_GENESIS,
          verify_strict(env["signer"], CTX_GENESIS, env["body"], env["signature"]) is None)
    check("genesis: re-signing gives the same signature",
          sign(r_seed, CTX_GENESIS, env["body"]) == env["signature"])
    check("genesis: envelope re-encodes byte for byte",
          enc_envelope(env["body"], env["signer"], env["signature"]) == h(v["genesis"]))
    shell_id = shell_id_of(env["body"])
    owner = g["owner"]
    print("      shell id = %s" % shell_id.hex())

    # The initiator's chain (identity § 8) ----------------------------------------------------
    chain_bytes = h(v["initiator_chain"])
    tokens = chain_decode(chain_bytes)
    check("initiator_chain: decodes, %d token(s), every signature verifies under %s"
          % (len(tokens), CTX_TOKEN), len(tokens) == 1)
    t0 = tokens[0]
    check("initiator_chain: re-encodes byte for byte",
          b"".join(e_msg(1, enc_envelope(t["envelope"]["body"], t["envelope"]["signer"],
                                         t["envelope"]["signature"])) for t in tokens) == chain_bytes)
    check("initiator_chain: token re-signed by the owner gives the same signature",
          sign(r_seed, CTX_TOKEN, t0["envelope"]["body"]) == t0["envelope"]["signature"])
    check("initiator_chain: subject = public(initiator_secret), issuer = owner, role member",
          t0["subject"] == i_key and t0["issuer"] == owner and t0["role"] == ROLE_MEMBER)
    check("initiator_chain: issued at now, expires now + 7 days",
          t0["issued_at_ms"] == now and t0["expires_at_ms"] == now + 7 * 86400 * 1000)

    responder = Local(r_key, owner, shell_id)
    initiator = Local(i_key, owner, shell_id)
    adm = admit(responder, i_key, tokens, now)
    check("initiator_chain: admits the initiator as member at now (revocation § 3.3)",
          adm[0] == i_key and adm[1] == ROLE_MEMBER and adm[3] == [i_key])
    check("responder: the owner is admitted with the empty chain",
          admit(initiator, r_key, [], now)[1] == ROLE_OWNER)

    # Randomness (§ 4) ------------------------------------------------------------------------
    for who, seed, nonce, eph in (("initiator", 1, i_nonce, i_eph_secret),
                                  ("responder", 2, r_nonce, r_eph_secret)):
        stream = chacha20rng_stream(seed, 64)
        check("%s: nonce = draw 1 (bytes 0..32), ephemeral secret = draw 2 (32..64) of "
              "ChaCha20Rng::seed_from_u64(%d)" % (who, seed),
              stream[:32] == nonce and stream[32:] == eph)

    # X25519 public keys (§ 7) ----------------------------------------------------------------
    i_eph = x25519_public(i_eph_secret)
    r_eph = x25519_public(r_eph_secret)
    check("X25519: initiator's ephemeral public = X25519(secret, 9), by hand = cryptography",
          x25519_by_hand(i_eph_secret, X25519_BASE) == i_eph)
    check("X25519: responder's ephemeral public = X25519(secret, 9), by hand = cryptography",
          x25519_by_hand(r_eph_secret, X25519_BASE) == r_eph)
    for who, s, pub in (("initiator", i_eph_secret, i_eph), ("responder", r_eph_secret, r_eph)):
        c = clamp(s)
        check("X25519: %s's secret is used as drawn%s; X25519 clamps it: public(secret) = "
              "public(clamp(secret))" % (who, "" if c == s else " (not clamped: %s...)" % s[:1].hex()),
              x25519_public(c) == pub)

    # Hello (§ 3.1, § 4) ----------------------------------------------------------------------
    check("hello: %d bytes, at most MAX_MESSAGE_LEN" % len(hello_msg), len(hello_msg) <= MAX_MESSAGE_LEN)
    version, kind, hello = decode_message(hello_msg)
    check("hello: HandshakeMessage version 1, kind = hello (field 2)",
          version == 1 and kind == KIND_HELLO)
    ho = decode("Offer", hello)
    check("hello offer: version 1", ho["version"] == 1)
    check("hello offer: shell_id = SHA-256 shell id of the genesis", ho["shell_id"] == shell_id)
    check("hello offer: peer = public(initiator_secret), an acceptable key",
          ho["peer"] == i_key and public_key_ok(ho["peer"]))
    check("hello offer: chain = initiator_chain", ho["chain"] == chain_bytes)
    check("hello offer: nonce = initiator_nonce", ho["nonce"] == i_nonce)
    check("hello offer: ephemeral = X25519 public of initiator_ephemeral_secret", ho["ephemeral"] == i_eph)
    check("hello offer: sent_at_ms = now_ms", ho["sent_at_ms"] == now)
    hello_again = enc_offer(shell_id, i_key, chain_bytes, i_nonce, i_eph, now)
    check("hello offer: re-encodes byte for byte from the inputs", hello_again == hello)
    check("hello: message re-encodes byte for byte", enc_message(KIND_HELLO, hello_again) == hello_msg)

    # Challenge (§ 3.2) -----------------------------------------------------------------------
    check("challenge: %d bytes, at most MAX_MESSAGE_LEN" % len(challenge_msg),
          len(challenge_msg) <= MAX_MESSAGE_LEN)
    version, kind, ch_bytes = decode_message(challenge_msg)
    check("challenge: HandshakeMessage version 1, kind = challenge (field 3)",
          version == 1 and kind == KIND_CHALLENGE)
    ch = decode("Challenge", ch_bytes)
    offer, r_sig = ch["offer"], ch["signature"]
    check("challenge: signature is 64 bytes", len(r_sig) == 64)
    ro = decode("Offer", offer)
    check("challenge offer: version 1", ro["version"] == 1)
    check("challenge offer: shell_id = the shell id", ro["shell_id"] == shell_id)
    check("challenge offer: peer = public(responder_secret), an acceptable key",
          ro["peer"] == r_key and public_key_ok(ro["peer"]))
    check("challenge offer: chain absent (the owner's empty chain; field 4 omitted)",
          ro["chain"] == b"" and all(f != 4 for f, _, _ in read_fields(offer)))
    check("challenge offer: nonce = responder_nonce", ro["nonce"] == r_nonce)
    check("challenge offer: ephemeral = X25519 public of responder_ephemeral_secret",
          ro["ephemeral"] == r_eph)
    check("challenge offer: sent_at_ms = now_ms", ro["sent_at_ms"] == now)
    offer_again = enc_offer(shell_id, r_key, b"", r_nonce, r_eph, now)
    check("challenge offer: re-encodes byte for byte from the inputs", offer_again == offer)

    # Transcript and signatures (§ 5, § 6) ----------------------------------------------------
    t = transcript(cb, hello, offer)
    print("      transcript = %s" % t.hex())
    check("transcript: the responder's signature verifies strictly under " + CTX_RESPONDER,
          verify_strict(r_key, CTX_RESPONDER, t, r_sig) is None)
    check("transcript: re-signing with responder_secret gives the same signature",
          sign(r_seed, CTX_RESPONDER, t) == r_sig)
    check("challenge: re-encodes byte for byte",
          enc_message(KIND_CHALLENGE, enc_challenge(offer_again, sign(r_seed, CTX_RESPONDER, t)))
          == challenge_msg)

    check("proof: %d bytes, at most MAX_MESSAGE_LEN" % len(proof_msg), len(proof_msg) <= MAX_MESSAGE_LEN)
    version, kind, i_sig = decode_message(proof_msg)
    check("proof: HandshakeMessage version 1, kind = proof (field 4), 64 bytes",
          version == 1 and kind == KIND_PROOF and len(i_sig) == 64)
    check("transcript: the initiator's proof verifies strictly under " + CTX_INITIATOR,
          verify_strict(i_key, CTX_INITIATOR, t, i_sig) is None)
    check("transcript: re-signing with initiator_secret gives the same proof",
          sign(i_seed, CTX_INITIATOR, t) == i_sig)
    check("proof: re-encodes byte for byte",
          enc_message(KIND_PROOF, sign(i_seed, CTX_INITIATOR, t)) == proof_msg)

    # What the transcript binds: each change makes both signatures fail.
    variants = {
        "another channel binding": transcript(cb + b"!", hello, offer),
        "an empty channel binding": transcript(b"", hello, offer),
        "the offers swapped (roles)": transcript(cb, offer, hello),
        "a hello with another nonce": transcript(
            cb, enc_offer(shell_id, i_key, chain_bytes, r_nonce, i_eph, now), offer),
        "the length prefixes moved (cb || hello joined)": hashlib.sha256(
            TRANSCRIPT_LABEL + b"\x00" + u32be(0) + u32be(len(cb) + len(hello)) + cb + hello
            + u32be(len(offer)) + offer).digest(),
    }
    for what, t2 in variants.items():
        check("transcript: with %s neither signature verifies" % what,
              t2 != t and verify_strict(r_key, CTX_RESPONDER, t2, r_sig) is not None
              and verify_strict(i_key, CTX_INITIATOR, t2, i_sig) is not None)
    check("signatures: the contexts are not interchangeable (reflection)",
          verify_strict(r_key, CTX_INITIATOR, t, r_sig) is not None
          and verify_strict(i_key, CTX_RESPONDER, t, i_sig) is not None)

    # X25519 agreement (§ 7) ------------------------------------------------------------------
    s_i = x25519_agree(i_eph_secret, ro["ephemeral"])
    s_r = x25519_agree(r_eph_secret, ho["ephemeral"])
    lib_i = X25519PrivateKey.from_private_bytes(i_eph_secret).exchange(
        X25519PublicKey.from_public_bytes(ro["ephemeral"]))
    lib_r = X25519PrivateKey.from_private_bytes(r_eph_secret).exchange(
        X25519PublicKey.from_public_bytes(ho["ephemeral"]))
    check("X25519: initiator's and responder's shared secrets are equal", s_i == s_r)
    check("X25519: by hand = cryptography on both sides", s_i == lib_i and s_r == lib_r)
    check("X25519: the shared secret is not all zero", s_i != bytes(32))
    low_order = [
        bytes(32),                                                  # u = 0
        (1).to_bytes(32, "little"),                                 # u = 1
        (X_P - 1).to_bytes(32, "little"),                           # u = p - 1
        h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),  # order 8
        h("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),  # order 8
        X_P.to_bytes(32, "little"),                                 # u = p (non-canonical 0)
        (1 << 255 | 1).to_bytes(32, "little"),                      # u = 1 with bit 255 set
    ]
    zero = [u.hex()[:8] for u in low_order if x25519_by_hand(i_eph_secret, u) == bytes(32)]
    check("X25519: the %d low-order inputs give an all-zero secret: LowOrderKey" % len(low_order),
          len(zero) == len(low_order) and all(
              refused(lambda u=u: x25519_agree(r_eph_secret, u), "LowOrderKey") for u in low_order),
          "zero for %r" % zero)
    lib_refuses = 0
    for u in low_order:
        try:
            X25519PrivateKey.from_private_bytes(i_eph_secret).exchange(X25519PublicKey.from_public_bytes(u))
        except ValueError:
            lib_refuses += 1
    check("X25519: cryptography refuses the same low-order inputs", lib_refuses == len(low_order))

    # Session key and id (§ 8) ----------------------------------------------------------------
    key, sid = derive(s_i, t)
    check("HKDF: session_key = HKDF-SHA256(salt = transcript, IKM = shared, info = %s, L = 32)"
          % SESSION_KEY_INFO.decode(), key == h(v["session_key"]))
    check("HKDF: session_id = HKDF-SHA256(salt = transcript, IKM = shared, info = %s, L = 16)"
          % SESSION_ID_INFO.decode(), sid == h(v["session_id"]))
    check("HKDF: by hand = cryptography",
          key == hkdf_lib(t, s_i, SESSION_KEY_INFO, 32) and sid == hkdf_lib(t, s_i, SESSION_ID_INFO, 16))
    check("HKDF: the session id is not a prefix of the key (distinct infos)", key[:16] != sid)

    # The checks of § 9 on the vector's offers, in order -----------------------------------------
    try:
        o, a = check_offer(hello, responder, now)
        check("responder: the hello passes every check of § 9; the peer is a member",
              o["peer"] == i_key and a[1] == ROLE_MEMBER)
    except Refused as e:
        check("responder: the hello passes every check of § 9", False, str(e))
    try:
        o, a = check_offer(offer, initiator, now)
        check("initiator: the challenge's offer passes every check of § 9; the peer is the owner",
              o["peer"] == r_key and a[1] == ROLE_OWNER)
    except Refused as e:
        check("initiator: the challenge's offer passes every check of § 9", False, str(e))
    check("replay guard: the same hello again is refused (Replay), on any connection",
          refused(lambda: check_offer(hello, responder, now + 1000), "Replay"))
    check("replay guard: the nonce is remembered until sent_at + MAX_MESSAGE_AGE",
          responder.guard.get(i_nonce) == now + MAX_MESSAGE_AGE_MS)

    def fresh_responder():
        return Local(r_key, owner, shell_id)

    check("§ 9: a hello echoed to its own sender is refused (Reflection)",
          refused(lambda: check_offer(hello, Local(i_key, owner, shell_id), now), "Reflection"))
    check("§ 9: accepted at now + MAX_MESSAGE_AGE and now - MAX_MESSAGE_AGE",
          check_offer(hello, fresh_responder(), now + MAX_MESSAGE_AGE_MS) is not None
          and check_offer(hello, fresh_responder(), now - MAX_MESSAGE_AGE_MS) is not None)
    check("§ 9: refused 1 ms beyond either end (Replay)",
          refused(lambda: check_offer(hello, fresh_responder(), now + MAX_MESSAGE_AGE_MS + 1), "Replay")
          and refused(lambda: check_offer(hello, fresh_responder(), now - MAX_MESSAGE_AGE_MS - 1), "Replay"))
    other = Local(r_key, owner, hashlib.sha256(b"another shell").digest())
    check("§ 9: an offer for another shell is refused (WrongShell)",
          refused(lambda: check_offer(hello, other, now), "WrongShell"))
    late = now + 8 * 86400 * 1000
    check("§ 9: hello at now + 8 days is refused as stale before the chain is looked at (Replay)",
          refused(lambda: check_offer(enc_offer(shell_id, i_key, chain_bytes, i_nonce, i_eph, late),
                                      fresh_responder(), now), "Replay"))
    check("§ 9: the same hello sent and checked 8 days later: the 7-day token has expired (Expired)",
          refused(lambda: check_offer(enc_offer(shell_id, i_key, chain_bytes, i_nonce, i_eph, late),
                                      fresh_responder(), late), "Expired"))
    revoking = fresh_responder()
    revoking.revoked.add(i_key)
    check("§ 9: a revoked initiator is refused (Revoked), and its nonce is not remembered",
          refused(lambda: check_offer(hello, revoking, now), "Revoked") and not revoking.guard)
    check("§ 9: a member offering the owner's empty chain is refused (NotAdmitted)",
          refused(lambda: check_offer(enc_offer(shell_id, i_key, b"", i_nonce, i_eph, now),
                                      fresh_responder(), now), "NotAdmitted"))
    flipped = bytearray(chain_bytes)
    flipped[-1] ^= 1
    check("§ 9: a token signature that does not verify is refused (NotAdmitted)",
          refused(lambda: check_offer(enc_offer(shell_id, i_key, bytes(flipped), i_nonce, i_eph, now),
                                      fresh_responder(), now), "NotAdmitted"))
    check("§ 9: a 31-byte nonce is refused (Malformed)",
          refused(lambda: check_offer(enc_offer(shell_id, i_key, chain_bytes, i_nonce[:31], i_eph, now),
                                      fresh_responder(), now), "Malformed: nonce"))
    check("§ 9: an ephemeral key of another length is refused (Malformed)",
          refused(lambda: check_offer(enc_offer(shell_id, i_key, chain_bytes, i_nonce, i_eph + b"\0", now),
                                      fresh_responder(), now), "Malformed: ephemeral"))
    check("§ 9: a small-order peer key is refused (Malformed)",
          refused(lambda: check_offer(enc_offer(shell_id, bytes(32), chain_bytes, i_nonce, i_eph, now),
                                      fresh_responder(), now), "Malformed: bad peer key"))
    check("§ 9: version 2 is refused (UnsupportedVersion)",
          refused(lambda: check_offer(e_uint(1, 2) + hello[2:], fresh_responder(), now),
                  "UnsupportedVersion"))
    busy = fresh_responder()
    busy.guard = {i.to_bytes(32, "big"): now + 1 for i in range(MAX_REMEMBERED_NONCES)}
    check("§ 11: with %d nonces remembered a new one is refused (Busy)" % MAX_REMEMBERED_NONCES,
          refused(lambda: check_offer(hello, busy, now), "Busy"))
    check("§ 11: once they expire (until <= now) the hello is accepted",
          check_offer(hello, busy, now + 1) is not None and len(busy.guard) == 1)


def run_negatives(v):
    """The invalid messages, low-order ephemerals and backoff schedule, by this checker's own
    state machine (§ 3.2, § 9, § 10.3) and policy (§ 14.1)."""
    now = v["now_ms"]
    cb = h(v["channel_binding"])
    genesis = decode("SignedEnvelope", h(v["genesis"]))
    shell_id = shell_id_of(genesis["body"])
    owner = decode("ShellGenesisBody", genesis["body"])["owner"]
    i_key, r_key = public_of(h(v["initiator_secret"])), public_of(h(v["responder_secret"]))
    hello_offer = decode_message(h(v["hello"]))[2]
    t_vector = transcript(cb, hello_offer, decode("Challenge", decode_message(h(v["challenge"]))[2])["offer"])
    check("transcript = the vector's transcript", t_vector == h(v["transcript"]))
    check("hello_offer and challenge_offer are the messages' offer fields",
          h(v["hello_offer"]) == hello_offer
          and h(v["challenge_offer"]) == decode("Challenge", decode_message(h(v["challenge"]))[2])["offer"])
    shared = x25519_agree(h(v["initiator_ephemeral_secret"]),
                          x25519_public(h(v["responder_ephemeral_secret"])))
    check("shared secret = X25519(initiator secret, responder public) = the vector's", shared == h(v["shared_secret"]))
    check("session key and id = HKDF(salt = transcript, IKM = shared secret)",
          derive(h(v["shared_secret"]), h(v["transcript"])) == (h(v["session_key"]), h(v["session_id"])))
    # The responder's draws come from seed 2 whatever the hello (§ 4): nonce, then secret.
    r_secret = chacha20rng_stream(2, 64)[32:]

    def answer(to, msg):
        if len(msg) > MAX_MESSAGE_LEN:
            return "Malformed"
        try:
            version, kind, value = decode_message(msg)
        except ProtoError:
            return "Malformed"
        if version != 1:
            return "UnsupportedVersion"
        if kind is None:
            return "Malformed"
        if kind != {"responder": KIND_HELLO, "initiator": KIND_CHALLENGE,
                    "responder_after_hello": KIND_PROOF}[to]:
            return "Unexpected"
        try:
            if to == "responder":
                o, _ = check_offer(value, Local(r_key, owner, shell_id), now)
                if x25519_by_hand(r_secret, o["ephemeral"]) == bytes(32):
                    return "LowOrderKey"
            elif to == "initiator":
                try:
                    ch = decode("Challenge", value)
                except ProtoError:
                    return "Malformed"
                o, _ = check_offer(ch["offer"], Local(i_key, owner, shell_id), now)
                t = transcript(cb, hello_offer, ch["offer"])
                if len(ch["signature"]) != 64:
                    return "Malformed"
                if verify_strict(o["peer"], CTX_RESPONDER, t, ch["signature"]) is not None:
                    return "BadSignature"
                if x25519_by_hand(h(v["initiator_ephemeral_secret"]), o["ephemeral"]) == bytes(32):
                    return "LowOrderKey"
            else:
                if len(value) != 64:
                    return "Malformed"
                if verify_strict(i_key, CTX_INITIATOR, t_vector, value) is not None:
                    return "BadSignature"
        except Refused as e:
            return str(e).split(":")[0]
        return "accepted"

    for m in v["invalid_messages"]:
        got = answer(m["to"], h(m["message"]))
        check("to the %s, %s: %s" % (m["to"], m["why"], m["error"]), got == m["error"], got)

    # § 7: exactly the 14 encodings of u = 0, 1, p - 1 (mod p) and the two order-8 points,
    # with bit 255 clear or set.
    lows = [h(k["ephemeral"]) for k in v["low_order_ephemerals"]]
    values = {int.from_bytes(k, "little") & ((1 << 255) - 1) for k in lows}
    check("low-order ephemerals: 14 distinct strings, each making X25519 all zero",
          len(set(lows)) == 14 and all(x25519_by_hand(r_secret, k) == bytes(32) for k in lows))
    check("low-order ephemerals: u mod p is 0, 1, p - 1 or an order-8 point",
          {u % X_P for u in values} == {0, 1, X_P - 1} | {int.from_bytes(lows[10], "little"), int.from_bytes(lows[12], "little")})
    hello_msg = h(v["hello"])
    i_eph = x25519_public(h(v["initiator_ephemeral_secret"]))
    for k in v["low_order_ephemerals"]:
        got = answer("responder", hello_msg.replace(i_eph, h(k["ephemeral"])))
        check("a hello with ephemeral %s...: %s" % (k["ephemeral"][:8], k["error"]), got == k["error"], got)

    # § 14.1 with the test-vector RNG (identity.md § 16).
    b = v["backoff"]
    rng = ci.VectorRng(b["rng_seed"])
    ok = True
    for row in b["schedule"]:
        f = row["failures"]
        k = min(max(f - 1, 0), 31)
        ceiling = min(b["max_ms"], b["base_ms"] << k)
        delay = None if f == 0 else (rng.next_u64() % (ceiling + 1) if ceiling else 0)
        ok &= check("backoff: after %d failures ceiling %d ms, delay %s ms" % (f, ceiling, delay),
                    row["ceiling_ms"] == ceiling and row["delay_ms"] == delay)


def main():
    default = os.path.join(HERE, "reconnect.json")
    path = sys.argv[1] if len(sys.argv) > 1 else default
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    try:
        run(vectors)
        run_negatives(vectors)
    except Exception as e:  # a crash is one more failure, reported, not a traceback
        check("checks ran to completion", False, "%s: %s" % (type(e).__name__, e))
    print("%d passed, %d failed" % (ci.PASSED, ci.FAILED))
    sys.exit(1 if ci.FAILED else 0)


if __name__ == "__main__":
    main()
