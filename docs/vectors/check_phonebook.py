#!/usr/bin/env python3
"""Independent checker for the syncshell-revocation and syncshell-phonebook known-answer vectors.

Usage: python3 check_phonebook.py [path/to/phonebook.json]

Follows docs/spec/revocation.md and docs/spec/phonebook.md only (and docs/spec/identity.md,
through the helpers of check_identity.py next to this file: protobuf by hand, strict Ed25519,
token chains). Needs Python 3.8+ and the `cryptography` package; no protobuf package. Prints one
line per check and ends with "N passed, M failed"; the exit status is non-zero when a check
fails.
"""

import functools
import hashlib
import json
import os
import re
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check_identity as ci  # noqa: E402  (the identity checker's helpers)
from check_identity import (  # noqa: E402
    MAX_CHAIN_DEPTH,
    MAX_CLOCK_SKEW_MS,
    MAX_WIRE_LEN,
    ROLE_ADMIN,
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
    refused_with,
    shell_id_of,
    sign,
)

# Reporting: the identity checker's counters and `check`, so one tally covers both.
check = ci.check


# Signatures are verified by hand (and again with `cryptography`), which is slow in pure Python;
# the truncation checks below verify the same few signatures many times, so results are kept.
ci.verify_strict = functools.lru_cache(maxsize=None)(ci.verify_strict)
verify_strict = ci.verify_strict

# ---------------------------------------------------------------------------------------------
# Constants (revocation.md § 5, phonebook.md § 9)

CTX_GENESIS = "syncshell/v1/shell-genesis"
CTX_TOKEN = "syncshell/v1/member-token"
CTX_TOMBSTONE = "syncshell/v1/tombstone"
CTX_ENTRY = "syncshell/v1/phonebook-entry"
TOMBSTONE_ID_LABEL = b"syncshell/v1/tombstone-id"
ENTRY_ID_LABEL = b"syncshell/v1/phonebook-entry-id"
REVOCATION_DIGEST_LABEL = b"syncshell/v1/revocation-digest"
FRIENDLY_NAME_LABEL = b"syncshell/v1/friendly-name"

MAX_TOMBSTONES = 16384
MAX_TOMBSTONE_BODY_LEN = 4096
MAX_REVOCATION_SNAPSHOT_LEN = MAX_TOMBSTONES * (MAX_TOMBSTONE_BODY_LEN + 256) + 64

DAY_MS = 24 * 3600 * 1000
MAX_TTL_MS = 7 * DAY_MS
DEFAULT_TTL_MS = DAY_MS
MAX_DISPLAY_NAME_LEN = 64
MAX_ENTRY_HINTS_LEN = 1024
MAX_ENTRIES = 1 + 32768 + 48 * 2048  # owner's entry, owner's pool, 48 admin pools
MAX_ENTRY_BODY_LEN = 4096
MAX_PHONEBOOK_SNAPSHOT_LEN = (MAX_ENTRIES * (MAX_ENTRY_BODY_LEN + 256)
                              + MAX_REVOCATION_SNAPSHOT_LEN + 64)
MAX_SYNC_MESSAGE_LEN = 16 * 1024 * 1024
MAX_BUCKETS_LOG2 = 16
ITEM_LEN = 56
MAX_ITEMS_PER_REPLY = 4096  # phonebook.md § 7.3, per-reply limits
MAX_TOMBSTONE_IDS_PER_REPLY = 4096
MAX_ENTRIES_PER_REPLY = 512
MAX_TOMBSTONES_PER_REPLY = 256

REASONS = {1: "removed", 2: "left", 3: "compromised", 4: "superseded"}
PRESENCES = {1: "online", 2: "away", 3: "offline"}

# Schemas from proto/revocation.proto and proto/phonebook.proto, in check_identity's format.
ci.SCHEMAS.update({
    "TombstoneBody": {
        1: ("version", "uint32", False),
        2: ("shell_id", "bytes", False),
        3: ("revoked", "bytes", False),
        4: ("reason", "enum", False),
        5: ("revoked_at_ms", "uint64", False),
        6: ("issuer", "bytes", False),
        7: ("issuer_chain", "bytes", False),
    },
    "RevocationSnapshot": {
        1: ("version", "uint32", False),
        2: ("tombstones", "bytes", True),
        3: ("digest", "bytes", False),
    },
    "EntryBody": {
        1: ("version", "uint32", False),
        2: ("shell_id", "bytes", False),
        3: ("peer", "bytes", False),
        4: ("display_name", "string", False),
        5: ("presence", "enum", False),
        6: ("last_seen_ms", "uint64", False),
        7: ("hints", "bytes", False),
        8: ("stamp", "uint64", False),
        9: ("expires_at_ms", "uint64", False),
        10: ("chain", "bytes", False),
    },
    "PhonebookSnapshot": {
        1: ("version", "uint32", False),
        2: ("entries", "bytes", True),
        3: ("revocations", "bytes", False),
        4: ("count", "uint32", False),
    },
    "SyncMessage": {
        1: ("version", "uint32", False),
        2: ("summary", "message", False),
        3: ("items", "message", False),
        4: ("entries", "message", False),
    },
    "Summary": {
        1: ("buckets_log2", "uint32", False),
        2: ("fingerprints", "bytes", False),
        3: ("revocation_digest", "bytes", False),
    },
    # `buckets` is a packed repeated uint32 (read with packed_uint32s below); the two bools
    # are varints.
    "Items": {
        1: ("buckets_log2", "uint32", False),
        2: ("buckets", "bytes", False),
        3: ("items", "bytes", False),
        4: ("tombstone_ids", "bytes", True),
        5: ("revocations_differ", "uint32", False),
        6: ("tombstone_ids_truncated", "uint32", False),
    },
    "Entries": {
        1: ("entries", "bytes", True),
        2: ("tombstones", "bytes", True),
        3: ("requests", "bytes", True),
        4: ("want_tombstones", "bytes", True),
    },
})

# phonebook.md § 4, verbatim.
ADJECTIVES = [
    "Amber", "Ancient", "Autumn", "Bold", "Brave", "Bright", "Calm", "Clever", "Cosmic", "Crimson",
    "Crystal", "Curious", "Dapper", "Dawn", "Desert", "Dusky", "Eager", "Electric", "Emerald",
    "Fancy", "Fearless", "Fierce", "Frosty", "Gentle", "Gilded", "Glowing", "Golden", "Grand",
    "Happy", "Hidden", "Humble", "Icy", "Jolly", "Keen", "Lively", "Lucky", "Lunar", "Mellow",
    "Merry", "Misty", "Mossy", "Nimble", "Noble", "Oaken", "Quiet", "Rapid", "Rustic", "Scarlet",
    "Shiny", "Silent", "Silver", "Sleepy", "Snowy", "Solar", "Spry", "Stormy", "Sunny", "Swift",
    "Tidy", "Twilight", "Velvet", "Vivid", "Wild", "Witty",
]
ANIMALS = [
    "Badger", "Bat", "Bear", "Beaver", "Bison", "Bobcat", "Camel", "Cat", "Chocobo", "Cobra",
    "Condor", "Coyote", "Crane", "Crow", "Deer", "Dingo", "Dolphin", "Dragon", "Eagle", "Falcon",
    "Ferret", "Finch", "Fox", "Frog", "Gecko", "Goat", "Goose", "Griffin", "Hare", "Hawk", "Heron",
    "Ibex", "Jackal", "Koala", "Lemur", "Lion", "Llama", "Lynx", "Magpie", "Marmot", "Mole",
    "Moose", "Newt", "Otter", "Owl", "Panda", "Parrot", "Puffin", "Quail", "Rabbit", "Raven",
    "Robin", "Salmon", "Seal", "Shark", "Sparrow", "Stag", "Swan", "Tiger", "Toad", "Turtle",
    "Viper", "Walrus", "Wolf",
]

# ---------------------------------------------------------------------------------------------
# Derivations


def tombstone_id(body):
    return hashlib.sha256(TOMBSTONE_ID_LABEL + b"\x00" + body).digest()


def entry_id(body):
    return hashlib.sha256(ENTRY_ID_LABEL + b"\x00" + body).digest()


def revocation_digest(ids):
    acc = hashlib.sha256(REVOCATION_DIGEST_LABEL + b"\x00")
    for i in sorted(ids):
        acc.update(i)
    return acc.digest()


def friendly_name(peer):
    d = hashlib.sha256(FRIENDLY_NAME_LABEL + b"\x00" + peer).digest()
    return "%s-%s-%02d" % (ADJECTIVES[d[0] % 64], ANIMALS[d[1] % 64], (d[2] * 256 + d[3]) % 100)


def buckets_log2(n):
    """The smallest k with 2^k * 8 >= n (k = 0 for n <= 8), at most 16."""
    k = 0
    while (8 << k) < n and k < MAX_BUCKETS_LOG2:
        k += 1
    return k


def bucket_of(peer, k):
    return 0 if k == 0 else int.from_bytes(peer[:2], "big") >> (16 - k)


def fingerprints(entries, k):
    """entries: list of (peer, entry id). 16 bytes per bucket: SHA-256 over the label, 0x00
    and peer || id of each version in the bucket, ascending, cut to 16 bytes."""
    buckets = [[] for _ in range(1 << k)]
    for peer, eid in entries:
        buckets[bucket_of(peer, k)].append(peer + eid)
    out = b""
    for versions in buckets:
        digest = hashlib.sha256(b"syncshell/v1/phonebook-bucket\x00")
        for v in sorted(versions):
            digest.update(v)
        out += digest.digest()[:16]
    return out


def clock_tick(last, now_ms):
    wall = min(now_ms, (1 << 48) - 1) << 16
    return wall if wall > last else min(last + 1, (1 << 64) - 1)


# ---------------------------------------------------------------------------------------------
# Decoding with every check, in the order of the specs. Failures raise Refused("Error: why").


def envelope_decode(buf):
    """identity.md § 4 (stand-alone envelope)."""
    if len(buf) > MAX_WIRE_LEN:
        raise Refused("TooLarge: envelope")
    try:
        env = decode("SignedEnvelope", buf)
    except ProtoError as e:
        raise Refused("Malformed: envelope: %s" % e)
    if env["version"] != 1:
        raise Refused("UnsupportedVersion: envelope")
    if not public_key_ok(env["signer"]):
        raise Refused("Malformed: bad signer key")
    if len(env["signature"]) != 64:
        raise Refused("Malformed: a signature is 64 bytes")
    return env


def chain_decode(buf):
    """identity.md § 8.1, signatures included (checked one by one here)."""
    if len(buf) > MAX_WIRE_LEN:
        raise Refused("TooLarge: token chain")
    try:
        raw = decode("TokenChain", buf)["tokens"]
    except ProtoError as e:
        raise Refused("Malformed: token chain: %s" % e)
    if len(raw) > MAX_CHAIN_DEPTH:
        raise Refused("ChainTooDeep")
    tokens = []
    for t in raw:
        try:
            tokens.append(ci.parse_token(t))
        except (AssertionError, ProtoError) as e:
            raise Refused("Malformed or BadSignature: token: %s" % e)
    return tokens


class Ctx:
    """The shell: genesis owner and shell id."""

    def __init__(self, owner, shell_id):
        self.owner, self.shell_id = owner, shell_id


def tombstone_parse(env_bytes, ctx, verify_signature=True):
    """revocation.md § 2.3, steps 1-13 (13 optional: the snapshot batch-verifies)."""
    env = envelope_decode(env_bytes)
    body = env["body"]
    if len(body) > MAX_TOMBSTONE_BODY_LEN:
        raise Refused("TooLarge: tombstone body")
    try:
        b = decode("TombstoneBody", body)
    except ProtoError as e:
        raise Refused("Malformed: tombstone body is not protobuf: %s" % e)
    if b["version"] != 1:
        raise Refused("UnsupportedVersion: %d" % b["version"])
    if len(b["shell_id"]) != 32:
        raise Refused("Malformed: shell id is 32 bytes")
    if b["shell_id"] != ctx.shell_id:
        raise Refused("WrongShell")
    if not public_key_ok(b["revoked"]):
        raise Refused("Malformed: revoked is not an acceptable key")
    if b["revoked"] == ctx.owner:
        raise Refused("NotAuthorized: the owner cannot be revoked")
    if b["issuer"] != env["signer"]:
        raise Refused("Malformed: not signed by its issuer")
    if b["reason"] not in REASONS:
        raise Refused("Malformed: unknown revocation reason")
    tokens = chain_decode(b["issuer_chain"])
    _, role, _, _ = ci.admit(env["signer"], tokens, ctx.shell_id, ctx.owner, b["revoked_at_ms"])
    if role < ROLE_ADMIN:
        raise Refused("NotAuthorized: only admins revoke")
    if verify_signature and verify_strict(env["signer"], CTX_TOMBSTONE, body, env["signature"]):
        raise Refused("BadSignature")
    b.update(envelope=env, id=tombstone_id(body), tokens=tokens)
    return b


def revocation_snapshot_reload(buf, ctx):
    """revocation.md § 3.5. Returns {revoked key: smallest tombstone id} and the id list."""
    if len(buf) > MAX_REVOCATION_SNAPSHOT_LEN:
        raise Refused("TooLarge: revocation snapshot")
    try:
        snap = decode("RevocationSnapshot", buf)
    except ProtoError as e:
        raise Refused("Malformed: revocation snapshot is not protobuf: %s" % e)
    if snap["version"] != 1:
        raise Refused("UnsupportedVersion: %d" % snap["version"])
    if len(snap["tombstones"]) > MAX_TOMBSTONES:
        raise Refused("TooLarge: revocation snapshot")
    parsed = []
    for i, raw in enumerate(snap["tombstones"]):
        try:
            parsed.append(tombstone_parse(raw, ctx, verify_signature=False))
        except Refused as e:
            raise Refused("Snapshot[%d]: %s" % (i, e))
    for i, t in enumerate(parsed):  # one batch in the reference; singly here (identity § 2.4)
        env = t["envelope"]
        if verify_strict(env["signer"], CTX_TOMBSTONE, env["body"], env["signature"]):
            raise Refused("Snapshot[%d]: BadSignature" % i)
    ids, revoked = [], {}
    for i, t in enumerate(parsed):
        if t["id"] in ids:
            raise Refused("Snapshot[%d]: Malformed: a tombstone appears twice" % i)
        ids.append(t["id"])
        revoked[t["revoked"]] = min(revoked.get(t["revoked"], t["id"]), t["id"])
    if snap["digest"] != revocation_digest(ids):
        raise Refused("Malformed: snapshot digest does not match its tombstones")
    return revoked, ids


def entry_parse(env_bytes, ctx):
    """phonebook.md § 3.4, steps 1-12."""
    env = envelope_decode(env_bytes)
    body = env["body"]
    if len(body) > MAX_ENTRY_BODY_LEN:
        raise Refused("TooLarge: entry body")
    try:
        b = decode("EntryBody", body)
    except ProtoError as e:
        raise Refused("Malformed: entry body is not protobuf: %s" % e)
    if b["version"] != 1:
        raise Refused("UnsupportedVersion: %d" % b["version"])
    if b["shell_id"] != ctx.shell_id:
        raise Refused("WrongShell")
    if b["peer"] != env["signer"]:
        raise Refused("Malformed: entry not signed by its peer")
    if len(b["display_name"].encode("utf-8")) > MAX_DISPLAY_NAME_LEN:
        raise Refused("TooLarge: display name")
    if len(b["hints"]) > MAX_ENTRY_HINTS_LEN:
        raise Refused("TooLarge: hints")
    if b["presence"] not in PRESENCES:
        raise Refused("Malformed: unknown presence")
    start = b["stamp"] >> 16
    if not start < b["expires_at_ms"] <= min(start + MAX_TTL_MS, (1 << 64) - 1):
        raise Refused("Malformed: expiry must be within 7 days after the stamp")
    if verify_strict(env["signer"], CTX_ENTRY, body, env["signature"]):
        raise Refused("BadSignature")
    tokens = chain_decode(b["chain"])
    admission = ci.admit(env["signer"], tokens, ctx.shell_id, ctx.owner, start)
    b.update(envelope=env, id=entry_id(body), tokens=tokens, admission=admission)
    return b


def revocation_check(admission, revoked):
    """revocation.md § 3.3: the first revoked chain key, member first."""
    for key in admission[3]:
        if key in revoked:
            raise Refused("Revoked: %s by %s" % (key.hex()[:16], revoked[key].hex()[:16]))


def book_insert(book, revoked, e):
    """phonebook.md § 5.2 (after the shell check): keeps the peer's newest version by (stamp, id)
    whatever the revocation set says; returns Unchanged, Hidden, Added or Updated."""
    try:
        revocation_check(e["admission"], revoked)
        hidden = False
    except Refused:
        hidden = True
    current = book.get(e["peer"])
    if current is not None and not (e["stamp"], e["id"]) > (current["stamp"], current["id"]):
        return "Unchanged"
    book[e["peer"]] = e
    return "Hidden" if hidden else ("Added" if current is None else "Updated")


def phonebook_snapshot_reload(buf, ctx):
    """phonebook.md § 6. Returns {peer: entry} and the revocation map."""
    if len(buf) > MAX_PHONEBOOK_SNAPSHOT_LEN:
        raise Refused("TooLarge: phonebook snapshot")
    try:
        snap = decode("PhonebookSnapshot", buf)
    except ProtoError as e:
        raise Refused("Malformed: phonebook snapshot is not protobuf: %s" % e)
    if snap["version"] != 1:
        raise Refused("UnsupportedVersion: %d" % snap["version"])
    if len(snap["entries"]) > MAX_ENTRIES:
        raise Refused("TooLarge: phonebook snapshot")
    if snap["count"] != len(snap["entries"]):
        raise Refused("Malformed: snapshot entry count does not match")
    revoked, _ = revocation_snapshot_reload(snap["revocations"], ctx)
    book = {}
    for i, raw in enumerate(snap["entries"]):
        try:
            e = entry_parse(raw, ctx)
            if e["peer"] in book:
                raise Refused("Malformed: two entries for one peer")
        except Refused as err:
            raise Refused("Snapshot[%d]: %s" % (i, err))
        book_insert(book, revoked, e)  # entries of revoked admissions are stored hidden
    return book, revoked


def is_live(entry, ctx, now):
    """phonebook.md § 3.6."""
    if now >= entry["expires_at_ms"]:
        return False
    if entry["stamp"] >> 16 > min(now + MAX_CLOCK_SKEW_MS, (1 << 64) - 1):
        return False
    try:
        ci.admit(entry["peer"], entry["tokens"], ctx.shell_id, ctx.owner, now)
        return True
    except Refused:
        return False


def is_shown(entry, ctx, now, revoked):
    """phonebook.md § 5.4: live, and the admission passes the revocation check."""
    return is_live(entry, ctx, now) and not refused(lambda: revocation_check(entry["admission"], revoked))


def prunable_at(entry):
    end = entry["expires_at_ms"]
    if entry["admission"][2]:
        end = min(end, entry["admission"][2])
    return min(end + MAX_TTL_MS, (1 << 64) - 1)


def padded(body, n):
    """body followed by an unknown bytes field (number 15, skipped by decoders), n bytes in all."""
    for k in range(n - len(body), -1, -1):
        out = body + e_bytes(15, bytes(k))
        if len(out) == n:
            return out
    raise ValueError("cannot pad to %d bytes" % n)


def refused(fn, prefix=""):
    try:
        fn()
    except Refused as e:
        return str(e).startswith(prefix)
    return False


def all_cuts_refused(buf, reload):
    """Every proper prefix of buf is refused by the reload checks."""
    accepted = []
    for n in range(len(buf)):
        try:
            reload(buf[:n])
            accepted.append(n)
        except Refused:
            pass
    return accepted


# ---------------------------------------------------------------------------------------------
# The vectors


def run(v):
    # Genesis -----------------------------------------------------------------------------------
    genesis_bytes = h(v["genesis"])
    genv = envelope_decode(genesis_bytes)
    gb = decode("ShellGenesisBody", genv["body"])
    owner = gb["owner"]
    check("genesis: envelope version 1 and re-encodes byte for byte",
          genv["version"] == 1
          and enc_envelope(genv["body"], genv["signer"], genv["signature"]) == genesis_bytes)
    check("genesis: body version 1, signed by its owner", gb["version"] == 1 and genv["signer"] == owner)
    check("genesis: owner = public(01 x 32), as in the identity vectors",
          owner == public_of(bytes([1] * 32)))
    check("genesis: signature verifies (" + CTX_GENESIS + ")",
          verify_strict(owner, CTX_GENESIS, genv["body"], genv["signature"]) is None)
    sid = shell_id_of(genv["body"])
    ctx = Ctx(owner, sid)

    # Chains --------------------------------------------------------------------------------------
    admin_seed, member_seed = h(v["admin_secret"]), h(v["member_secret"])
    admin, member = public_of(admin_seed), public_of(member_seed)
    seeds = {owner: bytes([1] * 32), admin: admin_seed, member: member_seed}
    admin_chain_bytes, member_chain_bytes = h(v["admin_chain"]), h(v["member_chain"])
    admin_tokens = chain_decode(admin_chain_bytes)
    member_tokens = chain_decode(member_chain_bytes)
    check("admin_chain: one token, issued by the owner, signature verifies",
          len(admin_tokens) == 1 and admin_tokens[0]["issuer"] == owner)
    check("member_chain: two tokens, the second is the admin's token",
          len(member_tokens) == 2
          and decode("TokenChain", member_chain_bytes)["tokens"][1:]
          == decode("TokenChain", admin_chain_bytes)["tokens"])
    for name, tokens in (("admin_chain", admin_tokens), ("member_chain", member_tokens)):
        for i, t in enumerate(tokens):
            env = t["envelope"]
            check("%s.tokens[%d]: re-signing by its issuer gives the same signature" % (name, i),
                  t["issuer"] in seeds and sign(seeds[t["issuer"]], CTX_TOKEN, env["body"]) == env["signature"])
    t_issue = admin_tokens[0]["issued_at_ms"]
    try:
        adm_admin = ci.admit(admin, admin_tokens, sid, owner, t_issue)
        adm_member = ci.admit(member, member_tokens, sid, owner, t_issue)
        check("admin_chain: admits public(admin_secret) as admin",
              adm_admin[1] == ROLE_ADMIN and adm_admin[3] == [admin])
        check("member_chain: admits public(member_secret) as member, chain keys [member, admin]",
              adm_member[1] == ROLE_MEMBER and adm_member[3] == [member, admin])
    except Refused as e:
        check("chains: admit at the issue time", False, str(e))
        return

    # Tombstone -----------------------------------------------------------------------------------
    tv = v["tombstone"]
    t_env_bytes, t_body = h(tv["envelope"]), h(tv["body"])
    check("tombstone: envelope within MAX_WIRE_LEN", len(t_env_bytes) <= MAX_WIRE_LEN)
    tenv = envelope_decode(t_env_bytes)
    check("tombstone: envelope body = body, re-encodes byte for byte",
          tenv["body"] == t_body
          and enc_envelope(tenv["body"], tenv["signer"], tenv["signature"]) == t_env_bytes)
    check("tombstone: signer = public(admin_secret)", tenv["signer"] == admin)
    check("tombstone: signature verifies over \"" + CTX_TOMBSTONE + "\" || 0x00 || body",
          verify_strict(admin, CTX_TOMBSTONE, t_body, tenv["signature"]) is None)
    check("tombstone: re-signing by the admin gives the same signature",
          sign(admin_seed, CTX_TOMBSTONE, t_body) == tenv["signature"])
    check("tombstone: the signature does not verify under another label",
          verify_strict(admin, CTX_TOKEN, t_body, tenv["signature"]) is not None
          and verify_strict(admin, CTX_ENTRY, t_body, tenv["signature"]) is not None)
    reason = {name: n for n, name in REASONS.items()}[tv["reason"]]
    expected_body = (
        e_uint(1, 1) + e_bytes(2, sid) + e_bytes(3, h(tv["revoked"])) + e_uint(4, reason)
        + e_uint(5, tv["revoked_at_ms"]) + e_bytes(6, admin) + e_bytes(7, admin_chain_bytes)
    )
    check("tombstone: body re-encodes from the JSON fields (reason %s = %d, issuer chain = admin_chain)"
          % (tv["reason"], reason), expected_body == t_body)
    check("tombstone: id = SHA-256(\"syncshell/v1/tombstone-id\" || 0x00 || body)",
          tombstone_id(t_body) == h(tv["id"]))
    try:
        t = tombstone_parse(t_env_bytes, ctx)
        check("tombstone: every validity check of revocation.md § 2.3 passes", True)
    except Refused as e:
        check("tombstone: every validity check of revocation.md § 2.3 passes", False, str(e))
        return
    check("tombstone: revokes the member (an acceptable key, not the owner)",
          t["revoked"] == member and public_key_ok(member) and member != owner)
    at = tv["revoked_at_ms"]
    try:
        adm = ci.admit(admin, t["tokens"], sid, owner, at)
        check("tombstone: issuer admitted as admin at revoked_at_ms", adm[1] == ROLE_ADMIN)
    except Refused as e:
        check("tombstone: issuer admitted as admin at revoked_at_ms", False, str(e))
    admin_end = admin_tokens[0]["expires_at_ms"]
    check("tombstone: the issuer's chain would not admit it at its expiry (a tombstone dated then is refused)",
          refused_with(lambda: ci.admit(admin, t["tokens"], sid, owner, admin_end), "Expired"))

    def resigned(fields, seed=admin_seed, signer=admin, body_len=None):
        f = dict(fields)
        body = (
            e_uint(1, f["version"]) + e_bytes(2, f["shell_id"]) + e_bytes(3, f["revoked"])
            + e_uint(4, f["reason"]) + e_uint(5, f["revoked_at_ms"]) + e_bytes(6, f["issuer"])
            + e_bytes(7, f["issuer_chain"])
        )
        if body_len is not None:
            body = padded(body, body_len)
        return enc_envelope(body, signer, sign(seed, CTX_TOMBSTONE, body))

    base = {k: t[k] for k in ("version", "shell_id", "revoked", "reason", "revoked_at_ms",
                              "issuer", "issuer_chain")}
    check("tombstone rule: dated at the issuer's token expiry -> Expired",
          refused(lambda: tombstone_parse(resigned(dict(base, revoked_at_ms=admin_end)), ctx), "Expired"))
    check("tombstone rule: dated 1 ms before the issuer's token expiry -> valid",
          tombstone_parse(resigned(dict(base, revoked_at_ms=admin_end - 1)), ctx) is not None)
    check("tombstone rule: naming the owner -> NotAuthorized",
          refused(lambda: tombstone_parse(resigned(dict(base, revoked=owner)), ctx), "NotAuthorized"))
    check("tombstone rule: reason 0 -> Malformed",
          refused(lambda: tombstone_parse(resigned(dict(base, reason=0)), ctx), "Malformed"))
    check("tombstone rule: issued by a member -> NotAuthorized",
          refused(lambda: tombstone_parse(resigned(dict(base, revoked=admin, issuer=member,
                                                        issuer_chain=member_chain_bytes),
                                                   member_seed, member), ctx), "NotAuthorized"))
    check("tombstone rule: another shell id -> WrongShell",
          refused(lambda: tombstone_parse(resigned(dict(base, shell_id=bytes(32))), ctx), "WrongShell"))
    big_t = resigned(base, body_len=MAX_TOMBSTONE_BODY_LEN)
    check("tombstone rule: a body padded (unknown field) to 4096 bytes is valid, one more byte -> TooLarge",
          tombstone_parse(big_t, ctx) is not None
          and refused(lambda: tombstone_parse(resigned(base, body_len=MAX_TOMBSTONE_BODY_LEN + 1), ctx),
                      "TooLarge: tombstone body"))
    check("tombstone size: a 4096-byte body makes a %d-byte envelope, %d bytes in a snapshot <= 4096 + 256"
          % (len(big_t), len(e_msg(2, big_t))),
          len(big_t) == 4201 and len(e_msg(2, big_t)) == 4204 <= MAX_TOMBSTONE_BODY_LEN + 256)
    check("revocation MAX_SNAPSHOT_LEN = 16384 * (4096 + 256) + 64 = 71 303 232, room for a full set",
          MAX_REVOCATION_SNAPSHOT_LEN == 71303232
          and MAX_TOMBSTONES * len(e_msg(2, big_t)) + len(e_uint(1, 1) + e_bytes(3, bytes(32)))
          <= MAX_REVOCATION_SNAPSHOT_LEN)
    flipped = bytearray(t_env_bytes)
    flipped[-1] ^= 1
    check("tombstone rule: a flipped signature bit -> BadSignature",
          refused(lambda: tombstone_parse(bytes(flipped), ctx), "BadSignature"))
    owner_t = resigned(dict(base, revoked=admin, issuer=owner, issuer_chain=b""), bytes([1] * 32), owner)
    try:
        ot = tombstone_parse(owner_t, ctx)
        check("tombstone rule: the owner revokes with an empty (omitted) issuer chain",
              7 not in [f for f, _, _ in ci.read_fields(ot["envelope"]["body"])])
        revocations = {ot["revoked"]: ot["id"]}
        check("cascade: revoking the admin refuses the member's admission through its chain key",
              refused(lambda: revocation_check(adm_member, revocations),
                      "Revoked: " + admin.hex()[:16]))
    except Refused as e:
        check("tombstone rule: the owner revokes with an empty (omitted) issuer chain", False, str(e))

    # Revocation set ------------------------------------------------------------------------------
    rv = v["revocation_set"]
    snap_bytes = h(rv["snapshot"])
    digest = revocation_digest([t["id"]])
    check("revocation_set: digest = SHA-256(\"syncshell/v1/revocation-digest\" || 0x00 || sorted ids)",
          digest == h(rv["digest"]))
    snap = decode("RevocationSnapshot", snap_bytes)
    check("revocation_set: snapshot version 1, one tombstone = the tombstone envelope",
          snap["version"] == 1 and snap["tombstones"] == [t_env_bytes])
    check("revocation_set: snapshot digest field = digest", snap["digest"] == digest)
    check("revocation_set: snapshot re-encodes byte for byte",
          e_uint(1, 1) + e_msg(2, t_env_bytes) + e_bytes(3, digest) == snap_bytes)
    try:
        revoked, _ = revocation_snapshot_reload(snap_bytes, ctx)
        check("revocation_set: snapshot reloads with every check of revocation.md § 3.5", True)
        check("revocation_set: is_revoked(member), revocation_of(member) = the tombstone, admin not revoked",
              revoked.get(member) == t["id"] and admin not in revoked and owner not in revoked)
        check("revocation_set: admission check refuses the member (Revoked), admits the admin",
              refused(lambda: revocation_check(adm_member, revoked), "Revoked")
              and not refused(lambda: revocation_check(adm_admin, revoked)))
    except Refused as e:
        check("revocation_set: snapshot reloads with every check of revocation.md § 3.5", False, str(e))
    cuts = all_cuts_refused(snap_bytes, lambda b: revocation_snapshot_reload(b, ctx))
    check("revocation_set: all %d truncations of the snapshot are refused" % len(snap_bytes),
          not cuts, "accepted cuts at %r" % cuts[:5])
    doubled = e_uint(1, 1) + e_msg(2, t_env_bytes) + e_msg(2, t_env_bytes) + e_bytes(3, digest)
    check("revocation_set: a tombstone listed twice is refused",
          refused(lambda: revocation_snapshot_reload(doubled, ctx), "Snapshot[1]: Malformed"))
    empty_digest = revocation_digest([])
    check("revocation_set: the empty set's digest is SHA-256(label || 0x00) = f8e7e391...",
          empty_digest.hex().startswith("f8e7e391"))

    # Entry ---------------------------------------------------------------------------------------
    ev = v["entry"]
    e_env_bytes, e_body = h(ev["envelope"]), h(ev["body"])
    check("entry: envelope within MAX_WIRE_LEN", len(e_env_bytes) <= MAX_WIRE_LEN)
    eenv = envelope_decode(e_env_bytes)
    check("entry: envelope body = body, re-encodes byte for byte",
          eenv["body"] == e_body
          and enc_envelope(eenv["body"], eenv["signer"], eenv["signature"]) == e_env_bytes)
    check("entry: signer = public(member_secret)", eenv["signer"] == member)
    check("entry: signature verifies over \"" + CTX_ENTRY + "\" || 0x00 || body",
          verify_strict(member, CTX_ENTRY, e_body, eenv["signature"]) is None)
    check("entry: re-signing by the member gives the same signature",
          sign(member_seed, CTX_ENTRY, e_body) == eenv["signature"])
    presence = {name: n for n, name in PRESENCES.items()}[ev["presence"]]
    expected_body = (
        e_uint(1, 1) + e_bytes(2, sid) + e_bytes(3, member) + e_bytes(4, ev["display_name"])
        + e_uint(5, presence) + e_uint(6, ev["last_seen_ms"]) + e_bytes(7, h(ev["hints"]))
        + e_uint(8, ev["stamp"]) + e_uint(9, ev["expires_at_ms"]) + e_bytes(10, member_chain_bytes)
    )
    check("entry: body re-encodes from the JSON fields (presence %s = %d, chain = member_chain)"
          % (ev["presence"], presence), expected_body == e_body)
    check("entry: id = SHA-256(\"syncshell/v1/phonebook-entry-id\" || 0x00 || body)",
          entry_id(e_body) == h(ev["id"]))
    stamp = ev["stamp"]
    start = stamp >> 16
    check("entry: stamp = %d << 16 | %d (unix ms, counter)" % (start, stamp & 0xFFFF),
          stamp == (start << 16) | (stamp & 0xFFFF) and start == ev["last_seen_ms"])
    check("entry: expiry rule start < expires_at_ms <= start + MAX_TTL",
          start < ev["expires_at_ms"] <= start + MAX_TTL_MS)
    check("entry: expires_at_ms = start + DEFAULT_TTL (24 h)", ev["expires_at_ms"] == start + DEFAULT_TTL_MS)
    check("entry: display name and hints within 64 / 1024 bytes",
          len(ev["display_name"].encode()) <= MAX_DISPLAY_NAME_LEN and len(h(ev["hints"])) <= MAX_ENTRY_HINTS_LEN)
    try:
        e = entry_parse(e_env_bytes, ctx)
        check("entry: every validity check of phonebook.md § 3.4 passes (chain admitted at the stamp time)", True)
    except Refused as err:
        check("entry: every validity check of phonebook.md § 3.4 passes", False, str(err))
        return
    check("entry: admission = member, expiring with its token, chain keys [member, admin]",
          e["admission"][0] == member and e["admission"][1] == ROLE_MEMBER
          and e["admission"][2] == member_tokens[0]["expires_at_ms"] and e["admission"][3] == [member, admin])
    check("entry: shown at its stamp time and 1 ms before expiry, hidden at expiry",
          is_live(e, ctx, start) and is_live(e, ctx, ev["expires_at_ms"] - 1)
          and not is_live(e, ctx, ev["expires_at_ms"]))
    p_at = prunable_at(e)
    check("entry: prunable_at = min(expires_at, admission expiry) + MAX_TTL = %d" % p_at,
          p_at == min(ev["expires_at_ms"], member_tokens[0]["expires_at_ms"]) + MAX_TTL_MS)
    check("entry: shown from stamp time - MAX_CLOCK_SKEW, not 1 ms before",
          is_live(e, ctx, start - MAX_CLOCK_SKEW_MS) and not is_live(e, ctx, start - MAX_CLOCK_SKEW_MS - 1))
    by_t = {member: t["id"]}
    book = {}
    check("entry: a book holding the tombstone stores it (Hidden) but never shows it (check: Revoked)",
          refused(lambda: revocation_check(e["admission"], by_t), "Revoked")
          and book_insert(book, by_t, e) == "Hidden" and book[member] is e
          and not is_shown(e, ctx, start, by_t) and is_shown(e, ctx, start, {}))

    def entry_resigned(body_len=None, **changes):
        f = {k: e[k] for k in ("version", "shell_id", "peer", "display_name", "presence",
                               "last_seen_ms", "hints", "stamp", "expires_at_ms", "chain")}
        f.update(changes)
        body = (
            e_uint(1, f["version"]) + e_bytes(2, f["shell_id"]) + e_bytes(3, f["peer"])
            + e_bytes(4, f["display_name"]) + e_uint(5, f["presence"]) + e_uint(6, f["last_seen_ms"])
            + e_bytes(7, f["hints"]) + e_uint(8, f["stamp"]) + e_uint(9, f["expires_at_ms"])
            + e_bytes(10, f["chain"])
        )
        if body_len is not None:
            body = padded(body, body_len)
        return enc_envelope(body, member, sign(member_seed, CTX_ENTRY, body))

    check("entry rule: expires_at = start + MAX_TTL is valid, one more ms is Malformed",
          entry_parse(entry_resigned(expires_at_ms=start + MAX_TTL_MS), ctx) is not None
          and refused(lambda: entry_parse(entry_resigned(expires_at_ms=start + MAX_TTL_MS + 1), ctx),
                      "Malformed"))
    check("entry rule: expires_at = start is Malformed",
          refused(lambda: entry_parse(entry_resigned(expires_at_ms=start), ctx), "Malformed"))
    m_end = member_tokens[0]["expires_at_ms"]
    check("entry rule: a stamp at the member token's expiry is refused (chain checked at the stamp time)",
          refused(lambda: entry_parse(entry_resigned(stamp=m_end << 16, expires_at_ms=m_end + 1), ctx),
                  "Expired"))
    check("entry rule: presence 0 -> Malformed, 65-byte name -> TooLarge",
          refused(lambda: entry_parse(entry_resigned(presence=0), ctx), "Malformed")
          and refused(lambda: entry_parse(entry_resigned(display_name="x" * 65), ctx), "TooLarge"))
    newer = entry_parse(entry_resigned(stamp=stamp + 1, expires_at_ms=ev["expires_at_ms"]), ctx)
    check("entry order: (stamp + 1, any id) supersedes (stamp, id)",
          (newer["stamp"], newer["id"]) > (e["stamp"], e["id"]))
    big_e = entry_resigned(body_len=MAX_ENTRY_BODY_LEN)
    check("entry rule: a body padded (unknown field) to 4096 bytes is valid, one more byte -> TooLarge",
          entry_parse(big_e, ctx) is not None
          and refused(lambda: entry_parse(entry_resigned(body_len=MAX_ENTRY_BODY_LEN + 1), ctx),
                      "TooLarge: entry body"))
    check("entry size: a 4096-byte body makes a %d-byte envelope, %d bytes in a snapshot <= 4096 + 256"
          % (len(big_e), len(e_msg(2, big_e))),
          len(big_e) == 4201 and len(e_msg(2, big_e)) == 4204 <= MAX_ENTRY_BODY_LEN + 256)
    check("phonebook MAX_SNAPSHOT_LEN = 131073 * (4096 + 256) + 71 303 232 + 64 = 641 732 992, room for a full book",
          MAX_PHONEBOOK_SNAPSHOT_LEN == 641732992
          and MAX_ENTRIES * len(e_msg(2, big_e)) + len(e_uint(1, 1) + e_uint(4, MAX_ENTRIES))
          + 1 + len(ci.varint(MAX_REVOCATION_SNAPSHOT_LEN)) + MAX_REVOCATION_SNAPSHOT_LEN
          <= MAX_PHONEBOOK_SNAPSHOT_LEN)

    # Future stamps (phonebook.md § 3.6): valid and stored, shown only from time(stamp) - skew.
    hour = 3600 * 1000
    future = entry_parse(entry_resigned(stamp=(start + hour) << 16, expires_at_ms=start + hour + DEFAULT_TTL_MS), ctx)
    fs = start + hour - MAX_CLOCK_SKEW_MS
    check("future stamp: an entry stamped 1 h ahead is valid, supersedes, and is hidden until 5 min before its time",
          book_insert({member: e}, {}, future) == "Updated"
          and not is_live(future, ctx, start) and not is_live(future, ctx, fs - 1) and is_live(future, ctx, fs))

    # Versions on different chains (phonebook.md § 5.2, § 8): v1 on an owner-issued token, v2 (the
    # vector entry) on the admin's chain, T = the owner revokes the admin. Every order stores v2.
    own_body = ci.enc_token_body(sid, member, ROLE_MEMBER, owner, t_issue, member_tokens[0]["expires_at_ms"],
                                 bytes(range(16)))
    own_chain = e_msg(1, enc_envelope(own_body, owner, sign(bytes([1] * 32), CTX_TOKEN, own_body)))
    v1 = entry_parse(entry_resigned(stamp=stamp - 1, chain=own_chain), ctx)
    t_admin = tombstone_parse(owner_t, ctx)
    outcomes = set()
    for order in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        b, rv = {}, {}
        for i in order:
            if i == 2:
                rv[t_admin["revoked"]] = t_admin["id"]
            else:
                book_insert(b, rv, (v1, e)[i])
        outcomes.add((tuple((p, x["id"]) for p, x in sorted(b.items())),
                      any(is_shown(x, ctx, start, rv) for x in b.values())))
    check("different chains: all 6 orders of v1 (owner token), v2 (via the admin), T (admin revoked) "
          "store v2 and show nothing",
          outcomes == {(((member, e["id"]),), False)}
          and is_shown(v1, ctx, start, {t_admin["revoked"]: t_admin["id"]}))

    # Clock ---------------------------------------------------------------------------------------
    last, seq = 0, []
    for now_ms in (1000, 1000, 10, 2000):
        last = clock_tick(last, now_ms)
        seq.append(last)
    check("clock: ticks at 1000, 1000, 10 (jump back), 2000 are strictly increasing",
          seq == [1000 << 16, (1000 << 16) + 1, (1000 << 16) + 2, 2000 << 16])
    observed = max(last, stamp)
    check("clock: after observing the entry's stamp, the next tick at its time is above it",
          clock_tick(observed, start) == stamp + 1)

    # Friendly names ------------------------------------------------------------------------------
    check("friendly names: 64 adjectives and 64 animals, all distinct",
          len(set(ADJECTIVES)) == 64 and len(set(ANIMALS)) == 64)
    spec_path = os.path.join(HERE, "..", "spec", "phonebook.md")
    try:
        with open(spec_path, encoding="utf-8") as f:
            spec = f.read()
        lists = re.findall(r"const (ADJECTIVES|ANIMALS): \[&str; 64\] = \[(.*?)\];", spec, re.S)
        found = {name: re.findall(r'"(\w+)"', text) for name, text in lists}
        check("friendly names: the word lists equal phonebook.md § 4",
              found.get("ADJECTIVES") == ADJECTIVES and found.get("ANIMALS") == ANIMALS)
    except OSError as err:
        check("friendly names: the word lists equal phonebook.md § 4", False, str(err))
    keys = [owner, admin, member]
    for i, fn in enumerate(v["friendly_names"]):
        peer = h(fn["peer"])
        check("friendly_names[%d]: %s = friendly_name(%s...)" % (i, fn["name"], fn["peer"][:16]),
              peer == keys[i] and friendly_name(peer) == fn["name"])

    # Phonebook snapshot --------------------------------------------------------------------------
    pb_bytes = h(v["phonebook_snapshot"])
    pb = decode("PhonebookSnapshot", pb_bytes)
    empty_rev = e_uint(1, 1) + e_bytes(3, empty_digest)
    check("phonebook_snapshot: version 1, entries = [the entry], count = 1",
          pb["version"] == 1 and pb["entries"] == [e_env_bytes] and pb["count"] == 1 == len(pb["entries"]))
    check("phonebook_snapshot: revocations = the empty revocation snapshot (version 1, empty digest)",
          pb["revocations"] == empty_rev)
    check("phonebook_snapshot: re-encodes byte for byte",
          e_uint(1, 1) + e_msg(2, e_env_bytes) + e_bytes(3, empty_rev) + e_uint(4, 1) == pb_bytes)
    try:
        book, _ = phonebook_snapshot_reload(pb_bytes, ctx)
        check("phonebook_snapshot: reloads with every check of phonebook.md § 6",
              list(book) == [member] and book[member]["id"] == h(ev["id"]))
    except Refused as err:
        check("phonebook_snapshot: reloads with every check of phonebook.md § 6", False, str(err))
    wrong_count = e_uint(1, 1) + e_msg(2, e_env_bytes) + e_bytes(3, empty_rev) + e_uint(4, 2)
    check("phonebook_snapshot: a count that does not match is refused",
          refused(lambda: phonebook_snapshot_reload(wrong_count, ctx), "Malformed"))
    with_t = e_uint(1, 1) + e_msg(2, e_env_bytes) + e_bytes(3, snap_bytes) + e_uint(4, 1)
    try:
        book_t, rev_t = phonebook_snapshot_reload(with_t, ctx)
        check("phonebook_snapshot: with the tombstone in its revocations, it reloads; the member's entry is stored, hidden",
              list(book_t) == [member] and not is_shown(book_t[member], ctx, start, rev_t))
    except Refused as err:
        check("phonebook_snapshot: with the tombstone in its revocations, it reloads", False, str(err))
    cuts = all_cuts_refused(pb_bytes, lambda b: phonebook_snapshot_reload(b, ctx))
    check("phonebook_snapshot: all %d truncations are refused" % len(pb_bytes),
          not cuts, "accepted cuts at %r" % cuts[:5])

    # Sync summary --------------------------------------------------------------------------------
    sm_bytes = h(v["sync_summary_of_one_entry_book"])
    check("sync summary: within MAX_SYNC_MESSAGE_LEN", len(sm_bytes) <= MAX_SYNC_MESSAGE_LEN)
    msg = decode("SyncMessage", sm_bytes)
    check("sync summary: version 1, kind = summary only",
          msg["version"] == 1 and msg["summary"] is not None
          and msg["items"] is None and msg["entries"] is None)
    s = decode("Summary", msg["summary"] or b"")
    k = buckets_log2(1)
    fps = fingerprints([(member, h(ev["id"]))], k)
    check("sync summary: buckets_log2 = %d for a one-entry book" % k, s["buckets_log2"] == k == 0)
    check("sync summary: fingerprints = 16 bytes per bucket = SHA-256(label, 0, peer || id)[..16] = %s" % fps.hex(),
          s["fingerprints"] == fps and len(fps) == 16 << k)
    check("sync summary: revocation digest = the empty set's digest", s["revocation_digest"] == empty_digest)
    expected = e_uint(1, 1) + e_msg(2, e_uint(1, k) + e_bytes(2, fps) + e_bytes(3, empty_digest))
    check("sync summary: re-encodes byte for byte from the recomputed values", expected == sm_bytes)
    table = {0: 0, 1: 0, 8: 0, 9: 1, 16: 1, 17: 2, 300: 6, 1000: 7, MAX_ENTRIES: 15, 8 << 16: 16,
             (8 << 16) + 1: 16}
    check("sync: buckets_log2 table of phonebook.md § 7.2",
          all(buckets_log2(n) == want for n, want in table.items()))
    check("sync: bucket of the member key (first bytes %s) at k = 1, 4, 16 = %d, %d, %d"
          % (member[:2].hex(), bucket_of(member, 1), bucket_of(member, 4), bucket_of(member, 16)),
          (bucket_of(member, 1), bucket_of(member, 4), bucket_of(member, 16))
          == (member[0] >> 7, member[0] >> 4, member[0] << 8 | member[1]))
    item = member + stamp.to_bytes(8, "big") + h(ev["id"])[:16]
    check("sync: the entry's item is 56 bytes: peer || u64be(stamp) || id[0..16]", len(item) == ITEM_LEN)
    run_sync_exchange(v, ctx, member, ev)


def packed_uint32s(buf):
    out, pos = [], 0
    while pos < len(buf):
        v, pos = ci.read_varint(buf, pos)
        out.append(v & 0xFFFFFFFF)
    return out


def sync_decode(buf):
    """phonebook.md § 7.4: the checks of a sync message; returns (kind, message) or raises
    Refused with the error."""
    if len(buf) > MAX_SYNC_MESSAGE_LEN:
        raise Refused("TooLarge: sync message")
    try:
        msg = decode("SyncMessage", buf)
    except (ProtoError, IndexError, ValueError) as e:
        raise Refused("Malformed: %s" % e)
    if msg["version"] != 1:
        raise Refused("UnsupportedVersion")
    kinds = [k for k in ("summary", "items", "entries") if msg[k] is not None]
    if not kinds:
        raise Refused("Malformed: no content")
    kind = kinds[-1]
    try:
        m = decode(kind.capitalize(), msg[kind])
    except (ProtoError, IndexError, ValueError) as e:
        raise Refused("Malformed: %s" % e)
    if kind == "summary":
        if m["buckets_log2"] > 16 or len(m["fingerprints"]) != 16 << m["buckets_log2"]:
            raise Refused("Malformed: fingerprints do not match the bucket count")
    elif kind == "items":
        k = m["buckets_log2"]
        buckets = packed_uint32s(m["buckets"])
        if k > 16 or len(buckets) > 1 << k or len(m["items"]) % ITEM_LEN \
                or len(m["items"]) // ITEM_LEN > MAX_ENTRIES:
            raise Refused("Malformed: items out of bounds")
        if len(set(buckets)) != len(buckets) or any(b >= 1 << k for b in buckets):
            raise Refused("Malformed: bad buckets")
        seen = set()
        for i in range(0, len(m["items"]), ITEM_LEN):
            it = m["items"][i:i + ITEM_LEN]
            if bucket_of(it[:32], k) not in buckets:
                raise Refused("Malformed: an item outside the listed buckets")
            if (it[:32], it[40:]) in seen:
                raise Refused("Malformed: an item appears twice")
            seen.add((it[:32], it[40:]))
        if m["revocations_differ"] and len(m["tombstone_ids"]) > MAX_TOMBSTONES:
            raise Refused("Malformed: too many tombstone ids")
        m["buckets"] = buckets
    elif len(m["entries"]) > MAX_ENTRIES or len(m["requests"]) > MAX_ENTRIES \
            or len(m["tombstones"]) > MAX_TOMBSTONES or len(m["want_tombstones"]) > MAX_TOMBSTONES:
        raise Refused("Malformed: entries message out of bounds")
    return kind, m


def varint_bytes(v):
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7F | 0x80])
        v >>= 7
    return out + bytes([v])


def sync_summary(book, tombstone_ids):
    """phonebook.md § 7.3 step 1. book: {peer: entry} (one pool per peer here)."""
    k = buckets_log2(len(book))
    fps = fingerprints([(p, e["id"]) for p, e in book.items()], k)
    return e_uint(1, 1) + e_msg(2, e_uint(1, k) + e_bytes(2, fps)
                                + e_bytes(3, revocation_digest(tombstone_ids)))


def sync_items(summary, book, tombstone_ids):
    """§ 7.3 step 2, from the spec alone: B's reply to a decoded Summary, or None."""
    k = summary["buckets_log2"]
    ours = fingerprints([(p, e["id"]) for p, e in book.items()], k)
    differing = [b for b in range(1 << k)
                 if ours[16 * b:16 * b + 16] != summary["fingerprints"][16 * b:16 * b + 16]]
    rd = summary["revocation_digest"] != revocation_digest(tombstone_ids)
    if not differing and not rd:
        return None
    k2 = max(k, buckets_log2(len(book)))
    buckets, items = [], b""
    for coarse in differing:
        for fine in range(coarse << (k2 - k), (coarse + 1) << (k2 - k)):
            versions = sorted((p, e["id"], e) for p, e in book.items() if bucket_of(p, k2) == fine)
            if len(items) // ITEM_LEN + len(versions) > MAX_ITEMS_PER_REPLY:
                break
            buckets.append(fine)
            for p, eid, e in versions:
                items += p + e["stamp"].to_bytes(8, "big") + eid[:16]
        else:
            continue
        break
    ids = sorted(tombstone_ids)[:MAX_TOMBSTONE_IDS_PER_REPLY] if rd else []
    body = (e_uint(1, k2) + e_bytes(2, b"".join(varint_bytes(b) for b in buckets))
            + e_bytes(3, items) + b"".join(e_msg(4, i) for i in ids) + e_uint(5, int(rd))
            + e_uint(6, int(rd and len(tombstone_ids) > MAX_TOMBSTONE_IDS_PER_REPLY)))
    return e_uint(1, 1) + e_msg(3, body)


def sync_entries(entries, tombstones, requests, wants):
    """One Entries message (§ 7.5, well under REPLY_SPLIT_LEN), or None if all are empty."""
    if not (entries or tombstones or requests or wants):
        return None
    body = b"".join(e_msg(f, x) for f, xs in ((1, entries), (2, tombstones), (3, requests),
                                              (4, wants)) for x in xs)
    return e_uint(1, 1) + e_msg(4, body)


def sync_on_items(it, book, tombstones):
    """§ 7.3 step 3: A's reply to a decoded, checked Items. tombstones: {id: envelope}."""
    k, listed = it["buckets_log2"], set(it["buckets"])
    theirs = {}
    for i in range(0, len(it["items"]), ITEM_LEN):
        x = it["items"][i:i + ITEM_LEN]
        theirs.setdefault(x[:32], set()).add(x[32:])
    send = [e["envelope_bytes"] for p, e in sorted(book.items())
            if bucket_of(p, k) in listed
            and e["stamp"].to_bytes(8, "big") + e["id"][:16] not in theirs.get(p, set())]
    requests = sorted(p for p, vs in theirs.items()
                      if any(p not in book or v != book[p]["stamp"].to_bytes(8, "big")
                             + book[p]["id"][:16] for v in vs))
    push, want = [], []
    if it["revocations_differ"]:
        ids = it["tombstone_ids"]
        top = max(ids) if ids else None
        counted = [i for i in sorted(tombstones)
                   if not it["tombstone_ids_truncated"] or (top is not None and i <= top)]
        push = [tombstones[i] for i in counted if i not in ids][:MAX_TOMBSTONES_PER_REPLY]
        want = [i for i in ids if len(i) == 32 and i not in tombstones][:MAX_TOMBSTONES_PER_REPLY]
    return sync_entries(send[:MAX_ENTRIES_PER_REPLY], push, requests[:MAX_ENTRIES_PER_REPLY], want)


def sync_on_entries(m, book, tombstones, ctx):
    """§ 7.3 step 4: merge a decoded Entries (tombstones first), then answer its requests."""
    for t in m["tombstones"]:
        tp = tombstone_parse(t, ctx)
        tombstones.setdefault(tp["id"], t)
    revoked = {}
    for i, t in tombstones.items():
        revoked.setdefault(tombstone_parse(t, ctx)["revoked"], i)
    for e in m["entries"]:
        parsed = entry_parse(e, ctx)
        parsed["envelope_bytes"] = e
        book_insert(book, revoked, parsed)
    send = [book[p]["envelope_bytes"] for p in sorted(set(m["requests"])) if p in book]
    wanted = set(m["want_tombstones"])
    push = [tombstones[i] for i in sorted(tombstones) if i in wanted]
    return sync_entries(send[:MAX_ENTRIES_PER_REPLY], push[:MAX_TOMBSTONES_PER_REPLY], [], [])


def run_sync_exchange(v, ctx, member, ev):
    """The owner's tombstone, the messages of a two-book exchange (phonebook.md § 7.3),
    each rebuilt from the spec, and refused sync messages (§ 7.4)."""
    ot = v["owner_tombstone"]
    t = tombstone_parse(h(ot["envelope"]), ctx)
    check("owner tombstone: signed by the owner with an empty chain, valid",
          t["envelope"]["signer"] == ctx.owner and not t["tokens"]
          and t["revoked"] == h(ot["revoked"]) and t["id"] == h(ot["id"]))
    x = v["sync_exchange"]

    def parsed(env_hex):
        e = entry_parse(h(env_hex), ctx)
        e["envelope_bytes"] = h(env_hex)
        return e

    shared = [parsed(e) for e in x["shared_entries"]]
    only_b = [parsed(e) for e in x["only_b_entries"]]
    book_a = {e["peer"]: e for e in shared + [parsed(ev["envelope"])]}
    book_b = {e["peer"]: e for e in shared + only_b}
    tomb_a, tomb_b = {}, {t["id"]: h(ot["envelope"])}
    check("sync exchange: A stores 8 entries (k = 0), B 9 (k = 1); each holds an entry the other lacks",
          (len(book_a), len(book_b)) == (8, 9) and buckets_log2(8) == 0 and buckets_log2(9) == 1
          and member not in book_b and set(book_b) - set(book_a))
    summary = sync_summary(book_a, list(tomb_a))
    check("sync exchange: A's summary (k = 0, one fingerprint, empty digest) rebuilt from the spec",
          summary == h(x["summary_a"]))
    kind, s = sync_decode(h(x["summary_a"]))
    items = sync_items(s, book_b, list(tomb_b))
    check("sync exchange: B's Items rebuilt from the spec (k' = max(0, 1) = 1, buckets 0 and 1, "
          "items by bucket, peer, id, and its tombstone id)", items == h(x["items_b"]),
          "got %s" % (items or b"").hex()[:80])
    kind, it = sync_decode(h(x["items_b"]))
    check("sync exchange: B's Items hold B's 9 items in buckets [0, 1] at k' = 1",
          kind == "items" and it["buckets_log2"] == 1 and it["buckets"] == [0, 1]
          and len(it["items"]) == 9 * ITEM_LEN and it["revocations_differ"] == 1
          and it["tombstone_ids"] == [t["id"]] and it["tombstone_ids_truncated"] == 0)
    entries_a = sync_on_items(it, book_a, tomb_a)
    check("sync exchange: A's Entries rebuilt from the spec", entries_a == h(x["entries_a"]))
    kind, ea = sync_decode(h(x["entries_a"]))
    check("sync exchange: A sends its one entry B lacks, requests B's two other peers "
          "(ascending) and wants B's tombstone",
          kind == "entries" and ea["entries"] == [h(ev["envelope"])] and ea["tombstones"] == []
          and ea["requests"] == sorted(e["peer"] for e in only_b)
          and ea["want_tombstones"] == [t["id"]])
    entries_b = sync_on_entries(ea, book_b, tomb_b, ctx)
    check("sync exchange: B's Entries rebuilt from the spec", entries_b == h(x["entries_b"]))
    kind, eb = sync_decode(h(x["entries_b"]))
    check("sync exchange: B answers with the requested entries and the wanted tombstone",
          kind == "entries"
          and eb["entries"] == [e["envelope_bytes"] for e in sorted(only_b, key=lambda e: e["peer"])]
          and eb["tombstones"] == [h(ot["envelope"])] and eb["requests"] == []
          and eb["want_tombstones"] == [])
    last = sync_on_entries(eb, book_a, tomb_a, ctx)
    check("sync exchange: A answers nothing; both books hold the same entries and tombstones",
          last is None and set(tomb_a) == set(tomb_b)
          and {p: e["id"] for p, e in book_a.items()} == {p: e["id"] for p, e in book_b.items()})
    check("sync exchange: then A's summary draws no Items from B",
          sync_items(sync_decode(sync_summary(book_a, list(tomb_a)))[1], book_b, list(tomb_b))
          is None)
    for case in v["invalid_sync_messages"]:
        try:
            sync_decode(h(case["message"]))
            got = "accepted"
        except Refused as e:
            got = str(e)
        check("invalid sync message refused with %s: %s" % (case["error"], case["what"]),
              got.startswith(case["error"]), got)


def main():
    default = os.path.join(HERE, "phonebook.json")
    path = sys.argv[1] if len(sys.argv) > 1 else default
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    try:
        run(vectors)
    except Exception as e:  # a crash is one more failure, reported, not a traceback
        check("checks ran to completion", False, "%s: %s" % (type(e).__name__, e))
    print("%d passed, %d failed" % (ci.PASSED, ci.FAILED))
    sys.exit(1 if ci.FAILED else 0)


if __name__ == "__main__":
    main()
