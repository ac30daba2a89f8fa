#!/usr/bin/env python3
"""Independent checker for the signaling relay's known-answer vectors (signal.json).

Usage: python3 check_signal.py [path/to/signal.json]

Follows docs/spec/signal.md only (and docs/spec/identity.md, through the helpers of
check_identity.py next to this file: strict Ed25519, key acceptance, the genesis, token chain
and join request decoders). Needs Python 3.8+ and the `cryptography` package. Prints one line
per check and ends with "N passed, M failed"; the exit status is non-zero when a check fails.
"""

import base64
import hashlib
import hmac
import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check_identity as ci  # noqa: E402  (the identity checker's helpers)
from check_identity import check, h  # noqa: E402

# ---------------------------------------------------------------------------------------------
# The spec's constants ("Frame layout", "Authentication")

VERSION = 1
AUTH_CONTEXT = "syncshell/v1/signal-auth"
NONCE_LEN = 32
SESSION_LEN = 16
MAX_CREDENTIAL_LEN = 16 * 1024
MAX_REASON_LEN = 256
MAX_ICE_SERVERS = 8
MAX_ICE_URLS = 8
MAX_ICE_TEXT_LEN = 256
MAX_PRESENCE_PEERS = 1024
MAX_HINT_RELAYS = 8
PRESENCE_ALL = 2  # changes: 0 offline, 1 online, 2 all
MALFORMED = 1  # the refusal code a server answers an undecodable frame with

TYPES = {
    0x01: "Challenge",
    0x02: "Hello",
    0x03: "Join",
    0x04: "Welcome",
    0x05: "Relay",
    0x06: "Deliver",
    0x07: "Tombstone",
    0x08: "Notice",
    0x09: "Refused",
    0x0A: "IceRequest",
    0x0B: "IceServers",
    0x0C: "Presence",
}
CODES = {name: t for t, name in TYPES.items()}
NOTICE_CODES = {1, 2, 3, 4}
UNREACHABLE = 4
REFUSE_CODES = set(range(1, 12))

# ---------------------------------------------------------------------------------------------
# A strict decoder and an encoder, written from the spec


class FrameError(Exception):
    """A refusal; the message is the spec's error name."""


class Reader:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def left(self):
        return len(self.buf) - self.pos

    def take(self, n):
        if self.left() < n:
            raise FrameError("Truncated")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def bytes_field(self, limit=MAX_CREDENTIAL_LEN):
        n = int.from_bytes(self.take(4), "big")
        if n > limit:  # before the bytes it announces are looked at
            raise FrameError("TooLarge")
        return self.take(n)

    def text(self):
        """An ICE server's URL, user name or credential: bytes of at most 256, UTF-8."""
        b = self.bytes_field(MAX_ICE_TEXT_LEN)
        try:
            return b.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise FrameError("Malformed")

    def peer(self):
        b = self.take(32)
        if not ci.public_key_ok(b):
            raise FrameError("Malformed")
        return b

    def rest(self):
        out = self.buf[self.pos:]
        self.pos = len(self.buf)
        return out


def decode(buf):
    """Returns (type name, fields) with bytes as hex and numbers as ints, or raises FrameError."""
    r = Reader(buf)
    if r.u8() != VERSION:
        raise FrameError("UnsupportedVersion")
    t = r.u8()
    if t not in TYPES:
        raise FrameError("UnknownType")
    kind = TYPES[t]
    if kind == "Challenge":
        f = {"nonce": r.take(NONCE_LEN).hex(), "session": r.take(SESSION_LEN).hex()}
    elif kind == "Hello":
        f = {"genesis": r.bytes_field().hex(), "chain": r.bytes_field().hex(),
             "peer": r.peer().hex(), "signature": r.take(64).hex()}
    elif kind == "Join":
        f = {"request": r.bytes_field().hex(), "signature": r.take(64).hex()}
    elif kind == "Welcome":
        f = {"shell_id": r.take(32).hex(), "peer": r.peer().hex()}
        standing = r.u8()
        if standing not in (0, 1):
            raise FrameError("Malformed")
        f["standing"] = standing
    elif kind == "Relay":
        f = {"to": r.peer().hex(), "blob": r.rest().hex()}
    elif kind == "Deliver":
        f = {"from": r.peer().hex(), "blob": r.rest().hex()}
    elif kind == "Tombstone":
        f = {"tombstone": r.rest().hex()}
    elif kind == "Notice":
        code = r.u8()
        if code not in NOTICE_CODES:
            raise FrameError("Malformed")
        f = {"code": code}
        if r.left() or code == UNREACHABLE:
            peer = r.peer()
            if code == UNREACHABLE:
                f["peer"] = peer.hex()
    elif kind == "IceRequest":
        f = {}
    elif kind == "Presence":
        change = r.u8()
        if change not in (0, 1, PRESENCE_ALL):
            raise FrameError("Malformed")
        left = r.left()
        if left % 32:
            raise FrameError("Malformed")
        if left // 32 > MAX_PRESENCE_PEERS:  # before the keys are looked at
            raise FrameError("TooLarge")
        if left == 0 and change != PRESENCE_ALL:
            raise FrameError("Malformed")
        f = {"change": change, "peers": [r.peer().hex() for _ in range(left // 32)]}
    elif kind == "IceServers":
        f = {"expires": int.from_bytes(r.take(8), "big"), "servers": []}
        count = r.u8()
        if count > MAX_ICE_SERVERS:  # before the servers are read
            raise FrameError("Malformed")
        for _ in range(count):
            n = r.u8()
            if not 1 <= n <= MAX_ICE_URLS:
                raise FrameError("Malformed")
            urls = [r.text() for _ in range(n)]
            f["servers"].append({"urls": urls, "username": r.text(), "credential": r.text()})
    else:  # Refused
        code = r.u8()
        if code not in REFUSE_CODES:
            raise FrameError("Malformed")
        reason = r.rest()
        if len(reason) > MAX_REASON_LEN:
            raise FrameError("TooLarge")
        try:
            text = reason.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise FrameError("Malformed")
        f = {"code": code, "reason": text}
    if r.left():
        raise FrameError("Malformed")
    return kind, f


def put_bytes(b):
    return len(b).to_bytes(4, "big") + b


def cut_reason(reason):
    """At most 256 bytes of UTF-8, cut on a character boundary."""
    b = reason.encode("utf-8")
    if len(b) <= MAX_REASON_LEN:
        return b
    end = MAX_REASON_LEN
    while end > 0 and (b[end] & 0xC0) == 0x80:  # b[end] starts the first dropped character
        end -= 1
    return b[:end]


def encode(kind, f):
    out = bytes([VERSION, CODES[kind]])
    if kind == "Challenge":
        return out + h(f["nonce"]) + h(f["session"])
    if kind == "Hello":
        return (out + put_bytes(h(f["genesis"])) + put_bytes(h(f["chain"])) + h(f["peer"])
                + h(f["signature"]))
    if kind == "Join":
        return out + put_bytes(h(f["request"])) + h(f["signature"])
    if kind == "Welcome":
        return out + h(f["shell_id"]) + h(f["peer"]) + bytes([f["standing"]])
    if kind == "Relay":
        return out + h(f["to"]) + h(f["blob"])
    if kind == "Deliver":
        return out + h(f["from"]) + h(f["blob"])
    if kind == "Tombstone":
        return out + h(f["tombstone"])
    if kind == "Notice":
        peer = h(f["peer"]) if f["code"] == UNREACHABLE else b""
        return out + bytes([f["code"]]) + peer
    if kind == "IceRequest":
        return out
    if kind == "Presence":
        return out + bytes([f["change"]]) + b"".join(h(p) for p in f["peers"])
    if kind == "IceServers":
        out += f["expires"].to_bytes(8, "big") + bytes([len(f["servers"])])
        for server in f["servers"]:
            out += bytes([len(server["urls"])])
            for text in server["urls"] + [server["username"], server["credential"]]:
                out += put_bytes(text.encode("utf-8"))
        return out
    return out + bytes([f["code"]]) + cut_reason(f["reason"])


def auth_signed(nonce, session, shell_id, peer):
    """The exact bytes Ed25519 signs ("Authentication", step 2)."""
    return ci.signed_bytes(AUTH_CONTEXT, nonce + session + shell_id + peer)


def turn_secret(file_text):
    """The secret of a --turn-secret-file: its bytes less one trailing newline."""
    b = file_text.encode("utf-8")
    if b.endswith(b"\r\n"):
        return b[:-2]
    return b[:-1] if b.endswith(b"\n") else b


def turn_credentials(secret, expires, peer):
    """coturn's shared-secret scheme ("ICE servers"): the user name and the password."""
    username = "%d:%s" % (expires, ci.text_encode(ci.PREFIX_PEER, peer))
    mac = hmac.new(secret, username.encode("ascii"), hashlib.sha1).digest()
    return username, base64.b64encode(mac).decode("ascii")


# ---------------------------------------------------------------------------------------------
# Sections


def relay_hints(hints):
    """The relays a hints text names ("Relay hints")."""
    try:
        text = hints.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return []
    relays = []
    for line in text.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if not line.startswith("signal="):
            continue
        url = line[len("signal="):]
        usable = url.startswith(("ws://", "wss://")) and not any(c.isspace() for c in url)
        if usable and url not in relays:
            relays.append(url)
            if len(relays) == MAX_HINT_RELAYS:
                break
    return relays


def run_relay_hints(v):
    for case in v["relay_hints"]:
        got = relay_hints(h(case["hints"]))
        check("relay hints: " + case["why"], got == case["relays"], str(got))
        written = "\n".join("signal=" + r for r in case["relays"]).encode("utf-8")
        check("relay hints: " + case["why"] + " (written back)", relay_hints(written) == case["relays"])


def run_constants(v):
    c = v["constants"]
    check("constants: version, context and bounds are the spec's",
          (c["version"], c["auth_context"], c["nonce_len"], c["session_len"],
           c["max_credential_len"], c["max_reason_len"], c["max_ice_servers"], c["max_ice_urls"],
           c["max_ice_text_len"], c["max_presence_peers"])
          == (VERSION, AUTH_CONTEXT, NONCE_LEN, SESSION_LEN, MAX_CREDENTIAL_LEN, MAX_REASON_LEN,
              MAX_ICE_SERVERS, MAX_ICE_URLS, MAX_ICE_TEXT_LEN, MAX_PRESENCE_PEERS))


def run_credentials(v):
    c = v["credentials"]
    shell_id, owner = ci.strict_genesis(h(c["genesis"]))
    check("credentials: shell_id is SHA-256 of the genesis body (identity § 6)",
          shell_id == h(c["shell_id"]))
    check("credentials: the owner secret owns the genesis",
          ci.public_of(h(c["owner_secret"])) == owner)
    tokens = ci.strict_chain(h(c["member_chain"]))
    member = ci.public_of(h(c["member_secret"]))
    check("credentials: the member chain admits the member key",
          len(tokens) == 1 and tokens[0]["subject"] == member and tokens[0]["issuer"] == owner)
    joiner, _, ib, _, _ = ci.strict_join_request(h(c["join_request"]))
    invite_shell, _ = ci.strict_genesis(ib["genesis"])
    check("credentials: the join request is the joiner's, for an invite of the same shell",
          joiner == ci.public_of(h(c["joiner_secret"])) and invite_shell == shell_id)
    return shell_id, owner, member, joiner


def run_auth(v, ids):
    shell_id, owner, member, joiner = ids
    expect = {"owner hello": owner, "member hello": member, "join": joiner}
    for a in v["auth"]:
        name = "auth %s" % a["name"]
        seed, peer = h(a["secret"]), h(a["peer"])
        check(name + ": the secret's public key is the peer",
              ci.public_of(seed) == peer and peer == expect[a["name"]])
        check(name + ": shell_id is the credentials' shell", h(a["shell_id"]) == shell_id)
        signed = auth_signed(h(a["nonce"]), h(a["session"]), h(a["shell_id"]), peer)
        check(name + ": signed bytes are context || 0x00 || nonce || session || shell || peer",
              signed == h(a["signed"]) and len(signed) == len(AUTH_CONTEXT) + 1 + 32 + 16 + 32 + 32)
        check(name + ": signature verifies strictly", ci.verify_raw(peer, signed, h(a["signature"])) is None)
        check(name + ": signature is Ed25519 over the signed bytes (deterministic)",
              ci.sign(seed, AUTH_CONTEXT, signed[len(AUTH_CONTEXT) + 1:]) == h(a["signature"]))
        tampered = bytearray(signed)
        tampered[-1] ^= 1
        check(name + ": a signature for another peer id does not verify",
              ci.verify_raw(peer, bytes(tampered), h(a["signature"])) is not None)


def run_turn(v, ids):
    _, _, member, joiner = ids
    t = v["turn"]
    secret = turn_secret(t["secret_file"])
    check("turn: the secret is the file less one trailing newline",
          secret and not secret.endswith(b"\n") and t["secret_file"].encode("utf-8") == secret + b"\n")
    expect = {"member": member, "guest": joiner}
    for c in t["credentials"]:
        name = "turn %s" % c["name"]
        peer = h(c["peer"])
        check(name + ": the credentials' peer", peer == expect[c["name"]])
        check(name + ": the peer id text is identity's text form",
              c["peer_text"] == ci.text_encode(ci.PREFIX_PEER, peer))
        check(name + ": expires the lifetime after now (unix seconds)",
              c["expires"] == v["credentials"]["now_ms"] // 1000 + t["ttl"])
        username, password = turn_credentials(secret, c["expires"], peer)
        check(name + ": user name is <expires>:<peer id text>", c["username"] == username, username)
        check(name + ": password is base64(HMAC-SHA1(secret, user name))",
              c["password"] == password, password)
    return {c["name"]: c for c in t["credentials"]}


def run_frames(v, ids, turn):
    shell_id, owner, member, joiner = ids
    auth = {a["name"]: a for a in v["auth"]}
    kinds = set()
    for fr in v["frames"]:
        name = "frame %s" % fr["name"]
        buf = h(fr["encoded"])
        try:
            kind, fields = decode(buf)
        except FrameError as e:
            check(name + ": decodes", False, str(e))
            continue
        kinds.add(kind)
        check(name + ": decodes to its type and fields", kind == fr["type"] and fields == fr["fields"],
              "%s %s" % (kind, fields))
        check(name + ": encodes to its bytes", encode(fr["type"], fr["fields"]) == buf)
        if kind == "Challenge":
            check(name + ": nonce and session are those the auth signatures sign",
                  all(h(a["nonce"]) == h(fields["nonce"]) and h(a["session"]) == h(fields["session"])
                      for a in v["auth"]))
        if kind == "Hello":
            sid, _ = ci.strict_genesis(h(fields["genesis"]))
            a = auth["owner hello"] if not fields["chain"] else auth["member hello"]
            if fields["chain"]:
                tokens = ci.strict_chain(h(fields["chain"]))
                check(name + ": the chain names the hello's peer", tokens[-1]["subject"] == h(fields["peer"]))
            signed = auth_signed(h(a["nonce"]), h(a["session"]), sid, h(fields["peer"]))
            check(name + ": its signature verifies over the challenge for the genesis's shell",
                  ci.verify_raw(h(fields["peer"]), signed, h(fields["signature"])) is None)
        if kind == "Join":
            j, _, ib, _, _ = ci.strict_join_request(h(fields["request"]))
            sid, _ = ci.strict_genesis(ib["genesis"])
            a = auth["join"]
            signed = auth_signed(h(a["nonce"]), h(a["session"]), sid, j)
            check(name + ": its signature verifies under the request's joiner",
                  ci.verify_raw(j, signed, h(fields["signature"])) is None)
        if kind == "Welcome":
            check(name + ": shell_id is the credentials' shell", h(fields["shell_id"]) == shell_id)
        if kind == "IceServers":
            stun = [s for s in fields["servers"] if all(u.startswith("stun:") for u in s["urls"])]
            relays = [s for s in fields["servers"] if s not in stun]
            check(name + ": STUN servers carry no credentials",
                  all(s["username"] == s["credential"] == "" for s in stun))
            check(name + ": expires is 0 exactly when no server carries credentials",
                  (fields["expires"] == 0) == (not relays))
            for s in relays:
                check(name + ": TURN URLs share the member's credentials",
                      all(u.split(":")[0] in ("turn", "turns") for u in s["urls"])
                      and (s["username"], s["credential"], fields["expires"])
                      == (turn["member"]["username"], turn["member"]["password"],
                          turn["member"]["expires"]))
    check("frames: every type of the spec has a vector", kinds == set(TYPES.values()), str(kinds))
    notices = {fr["fields"]["code"] for fr in v["frames"] if fr["type"] == "Notice"}
    refusals = {fr["fields"]["code"] for fr in v["frames"] if fr["type"] == "Refused"}
    check("frames: every notice code and every refusal code has a vector",
          notices == NOTICE_CODES and refusals == REFUSE_CODES)
    for fr in v["frames"]:
        if fr["type"] == "Notice":
            check("frame %s: is %d bytes" % (fr["name"], 35 if fr["fields"]["code"] == 4 else 3),
                  len(h(fr["encoded"])) == (35 if fr["fields"]["code"] == 4 else 3))


def run_tolerated(v):
    for t in v["tolerated"]:
        name = "tolerated %s" % t["encoded"][:8]
        try:
            kind, fields = decode(h(t["encoded"]))
        except FrameError as e:
            check(name + ": decodes", False, str(e))
            continue
        check(name + ": a peer after codes 1-3 is dropped",
              kind == t["type"] == "Notice" and fields == t["fields"] and "peer" not in fields)
        check(name + ": re-encodes as the code alone", encode(kind, fields) == h(t["reencoded"]))
    c = v["reason_cut"]
    buf = h(c["encoded"])
    check("reason cut: the encoder cuts to 256 bytes on a character boundary",
          encode("Refused", {"code": buf[2], "reason": c["sent_reason"]}) == buf
          and len(buf) - 3 <= MAX_REASON_LEN and len(c["sent_reason"].encode("utf-8")) > MAX_REASON_LEN)
    check("reason cut: the frame decodes to the cut reason",
          decode(buf)[1]["reason"] == c["reason"] and c["sent_reason"].startswith(c["reason"]))


def run_invalid(v):
    for n in v["invalid_frames"]:
        try:
            got = "accepted %s" % (decode(h(n["encoded"])),)
        except FrameError as e:
            got = str(e)
        check("invalid: %s -> %s" % (n["why"], n["error"]), got == n["error"], got)
        check("invalid: %s is refused with code 1 (malformed)" % n["why"], n["refusal"] == MALFORMED)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "signal.json")
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    state = {}

    def credentials():
        state["ids"] = run_credentials(vectors)

    def turn():
        state["turn"] = run_turn(vectors, state["ids"])

    sections = [
        ("constants", lambda: run_constants(vectors)),
        ("credentials", credentials),
        ("auth", lambda: run_auth(vectors, state["ids"])),
        ("turn", turn),
        ("frames", lambda: run_frames(vectors, state["ids"], state["turn"])),
        ("tolerated", lambda: run_tolerated(vectors)),
        ("invalid frames", lambda: run_invalid(vectors)),
        ("relay hints", lambda: run_relay_hints(vectors)),
    ]
    for name, section in sections:
        try:
            section()
        except Exception as e:  # a crash is one more failure, reported, not a traceback
            check(name + ": checks ran to completion", False, "%s: %s" % (type(e).__name__, e))
    print("%d passed, %d failed" % (ci.PASSED, ci.FAILED))
    sys.exit(1 if ci.FAILED else 0)


if __name__ == "__main__":
    main()
