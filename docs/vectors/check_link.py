#!/usr/bin/env python3
"""Independent checker for the link protocol's known-answer vectors (link.json).

Usage: python3 check_link.py [path/to/link.json]

Follows docs/spec/link.md only (and the protobuf reader of check_identity.py next to this
file, written from docs/spec/identity.md § 1). Needs Python 3.8+. Prints one line per check
and ends with "N passed, M failed"; the exit status is non-zero when a check fails.
"""

import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check_identity as ci  # noqa: E402  (the protobuf reader and the check counters)
from check_identity import check, h  # noqa: E402

# ---------------------------------------------------------------------------------------------
# The spec's constants

VERSION = 1
MAX_NAME_LEN = 64
MAX_CHAT_TEXT_LEN = 4096
MAX_DENIED_LEN = 256
MAX_LINK_MESSAGE_LEN = 16 * 1024 * 1024 + 1024 + 64
MAX_RELAY_MESSAGE_LEN = 32 * 1024

DIRECTIONS = {1: "to_receiver", 2: "to_sender"}
CHAT_KINDS = {1: "text", 2: "typing", 3: "presence"}

# field number -> (kind, wire type) of each message's oneof `body`
LINK_BODY = {2: ("info", 2), 3: ("sync", 2), 4: ("transfer", 2), 5: ("chat", 2),
             6: ("ping", 0), 7: ("pong", 0), 8: ("fetch", 0)}
RELAY_BODY = {2: ("join_request", 2), 3: ("chain", 2), 4: ("denied", 2), 5: ("ring", 0)}
# the members of `body` that are embedded messages
MESSAGES = ("info", "transfer", "chat")


class Refused(Exception):
    """A refusal; the message is the spec's error name."""


def known_fields(buf, schema):
    """The fields of `buf` that `schema` (field number -> wire type) names, in wire order;
    unknown fields skipped, a wrong wire type or a bad encoding refused."""
    try:
        fields = ci.read_fields(buf)
    except ci.ProtoError:
        raise Refused("Malformed")
    for field, wt, value in fields:
        if field not in schema:
            continue
        if wt != schema[field]:
            raise Refused("Malformed")
        yield field, value


def fields_of(buf, schema):
    """proto3: the last value of each known scalar field."""
    return dict(known_fields(buf, schema))


def text(b):
    try:
        return b.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Refused("Malformed")


def body_of(buf, limit, body_fields):
    """Checks the length, reads the version and the oneof body: (kind, value) or None for a
    message of a kind this version does not know."""
    if len(buf) > limit:
        raise Refused("TooLarge")
    schema = {1: 0}
    schema.update({f: wt for f, (_, wt) in body_fields.items()})
    # A oneof's last member wins; an embedded message seen again merges with it.
    last = None
    merged = {}
    for field, value in known_fields(buf, schema):
        if field != 1:
            if last == field and body_fields[field][0] in MESSAGES:
                value = merged[field] + value
            last = field
        merged[field] = value
    version = merged.get(1, 0) & 0xFFFFFFFF
    # Strings and sub-messages are read before the version is looked at (a protobuf decoder
    # reads the whole message first).
    if last is not None and body_fields[last][0] in MESSAGES + ("denied",):
        parsed = parse_member(body_fields[last][0], merged[last])
    else:
        parsed = merged.get(last)
    if version != VERSION:
        raise Refused("UnsupportedVersion")
    if last is None:
        return None
    return body_fields[last][0], parsed


def parse_member(kind, value):
    if kind == "denied":
        return text(value)
    schemas = {
        "info": {1: 0, 2: 2, 3: 0, 4: 0, 5: 0},
        "transfer": {1: 0, 2: 0, 3: 2},
        "chat": {1: 0, 2: 2},
    }
    f = fields_of(value, schemas[kind])
    if kind == "info":
        return {"boot": f.get(1, 0), "name": text(f.get(2, b"")),
                "share": f.get(3, 0) != 0, "receive": f.get(4, 0) != 0,
                "share_version": f.get(5, 0)}
    if kind == "transfer":
        return {"id": f.get(1, 0), "direction": f.get(2, 0) & 0xFFFFFFFF, "frame": f.get(3, b"")}
    return {"kind": f.get(1, 0) & 0xFFFFFFFF, "text": text(f.get(2, b""))}


def decode_link(buf):
    """Returns (kind, fields) with bytes as hex, or None; raises Refused."""
    got = body_of(buf, MAX_LINK_MESSAGE_LEN, LINK_BODY)
    if got is None:
        return None
    kind, v = got
    if kind == "info":
        if len(v["name"].encode("utf-8")) > MAX_NAME_LEN:
            raise Refused("Invalid")
        return kind, v
    if kind == "sync":
        return kind, {"sync": v.hex()}
    if kind == "transfer":
        if v["direction"] not in DIRECTIONS:
            raise Refused("Invalid")
        return kind, {"id": v["id"], "direction": DIRECTIONS[v["direction"]],
                      "frame": v["frame"].hex()}
    if kind == "chat":
        if v["kind"] not in CHAT_KINDS:
            raise Refused("Invalid")
        if len(v["text"].encode("utf-8")) > MAX_CHAT_TEXT_LEN:
            raise Refused("Invalid")
        return kind, {"kind": CHAT_KINDS[v["kind"]], "text": v["text"]}
    if kind == "fetch":
        return kind, {"id": v}
    return kind, {"number": v}


def decode_relay(buf):
    got = body_of(buf, MAX_RELAY_MESSAGE_LEN, RELAY_BODY)
    if got is None:
        return None
    kind, v = got
    if kind == "denied":
        if len(v.encode("utf-8")) > MAX_DENIED_LEN:
            raise Refused("Invalid")
        return kind, {"denied": v}
    if kind == "ring":
        return kind, {"boot": v}
    return kind, {kind: v.hex()}


# ---------------------------------------------------------------------------------------------
# The encoder: fields in number order, scalars at their default left out, the oneof member
# always written (also when its value is the default).

def e_varint(field, v):
    return ci.varint(field << 3) + ci.varint(v)


def e_len(field, b):
    return ci.varint(field << 3 | 2) + ci.varint(len(b)) + b


def e_opt_varint(field, v):
    return e_varint(field, v) if v else b""


def e_opt_len(field, b):
    return e_len(field, b) if b else b""


def encode_link(kind, f):
    out = e_varint(1, VERSION)
    if kind == "info":
        body = (e_opt_varint(1, f["boot"]) + e_opt_len(2, f["name"].encode("utf-8"))
                + e_opt_varint(3, int(f["share"])) + e_opt_varint(4, int(f["receive"]))
                + e_opt_varint(5, f["share_version"]))
        return out + e_len(2, body)
    if kind == "sync":
        return out + e_len(3, h(f["sync"]))
    if kind == "transfer":
        d = {v: k for k, v in DIRECTIONS.items()}[f["direction"]]
        body = e_opt_varint(1, f["id"]) + e_opt_varint(2, d) + e_opt_len(3, h(f["frame"]))
        return out + e_len(4, body)
    if kind == "chat":
        k = {v: k for k, v in CHAT_KINDS.items()}[f["kind"]]
        return out + e_len(5, e_opt_varint(1, k) + e_opt_len(2, f["text"].encode("utf-8")))
    if kind == "fetch":
        return out + e_varint(8, f["id"])
    return out + e_varint(6 if kind == "ping" else 7, f["number"])


def cut_reason(reason):
    b = reason.encode("utf-8")
    if len(b) <= MAX_DENIED_LEN:
        return b
    end = MAX_DENIED_LEN
    while end > 0 and (b[end] & 0xC0) == 0x80:
        end -= 1
    return b[:end]


def encode_relay(kind, f):
    out = e_varint(1, VERSION)
    if kind == "join_request":
        return out + e_len(2, h(f["join_request"]))
    if kind == "chain":
        return out + e_len(3, h(f["chain"]))
    if kind == "denied":
        return out + e_len(4, cut_reason(f["denied"]))
    return out + e_varint(5, f["boot"])


# ---------------------------------------------------------------------------------------------
# Sections


def run_constants(v):
    c = v["constants"]
    check("constants: version and bounds are the spec's",
          (c["version"], c["max_name_len"], c["max_chat_text_len"], c["max_denied_len"],
           c["max_link_message_len"], c["max_relay_message_len"])
          == (VERSION, MAX_NAME_LEN, MAX_CHAT_TEXT_LEN, MAX_DENIED_LEN, MAX_LINK_MESSAGE_LEN,
              MAX_RELAY_MESSAGE_LEN))


def run_messages(v, section, decode, encode):
    for m in v[section]:
        name = "%s: %s" % (section, m["name"])
        buf = h(m["encoded"])
        try:
            got = decode(buf)
        except Refused as e:
            check(name + ": decodes", False, str(e))
            continue
        check(name + ": decodes to its kind and fields", got == (m["kind"], m["fields"]), str(got))
        check(name + ": encodes to its bytes", encode(m["kind"], m["fields"]) == buf)


def run_unknown(v):
    for m in v["unknown_kinds"]:
        decode = decode_link if m["message"] == "link" else decode_relay
        try:
            got = decode(h(m["encoded"]))
        except Refused as e:
            got = "refused: %s" % e
        check("unknown kind: %s is ignored" % m["why"], got is None, str(got))


def run_reason_cut(v):
    c = v["reason_cut"]
    check("a long reason is cut to 256 bytes on a character boundary",
          encode_relay("denied", {"denied": c["reason"]}) == h(c["encoded"]))


def run_invalid(v):
    for m in v["invalid_messages"]:
        decode = decode_link if m["message"] == "link" else decode_relay
        try:
            decode(h(m["encoded"]))
            got = "accepted"
        except Refused as e:
            got = str(e)
        check("invalid %s: %s -> %s" % (m["message"], m["why"], m["error"]), got == m["error"], got)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "link.json")
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    sections = [
        ("constants", lambda: run_constants(vectors)),
        ("link messages", lambda: run_messages(vectors, "link_messages", decode_link, encode_link)),
        ("relay messages",
         lambda: run_messages(vectors, "relay_messages", decode_relay, encode_relay)),
        ("unknown kinds", lambda: run_unknown(vectors)),
        ("reason cut", lambda: run_reason_cut(vectors)),
        ("invalid messages", lambda: run_invalid(vectors)),
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
