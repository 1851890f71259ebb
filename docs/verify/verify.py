#!/usr/bin/env python3
"""Check an Anslut audit export without Anslut.

    python3 verify.py --key KEY EXPORT [--token TOKEN]

EXPORT is a file or the URL of `GET /v1/cases/{case_id}/audit-export` (or an incident's);
KEY is the verifier key (`name+keyid+base64key`), a file holding it, or the URL of
`/.well-known/anslut-checkpoint-key`. Fetch the key once and keep it: a key taken from the
same place as the export proves nothing against whoever runs that place.

It checks, as ARCHITECTURE.md ("Tamper evidence") specifies: the checkpoint note's Ed25519
signature; each event's canonical bytes and its chain hash SHA-256(prev_hash || bytes); the
links between consecutive events of the stream; and each event's RFC 9162 inclusion proof of
the leaf SHA-256(0x00 || hash) up to the signed root.

Exit status: 0 intact, 1 not intact (the message names the first bad line), 2 usage error.
Needs Python 3.9+ and one package, `cryptography` (see requirements.txt), for Ed25519.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "anslut-audit-export/1"
HEADER_KEYS = {"format", "origin", "stream_type", "stream_id", "events", "checkpoint",
               "verifier_key"}
EVENT_KEYS = {"position", "stream_type", "stream_id", "version", "event_id", "event_type",
              "event_version", "payload", "metadata", "recorded_at", "prev_hash", "hash",
              "inclusion_proof"}
METADATA_KEYS = {"command_id", "correlation_id", "causation_id", "actor", "extra"}
ACTOR_KEYS = {"subject", "role", "region", "provider_org"}
HASHED_KEYS = EVENT_KEYS - {"prev_hash", "hash", "inclusion_proof"}


class Bad(Exception):
    """The export is not intact; the message says where."""


def sha256(*parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.digest()


# --- Canonical JSON (store/src/canonical.rs) ---------------------------------------------

ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
           "\t": "\\t"}


def canonical_string(text):
    out = []
    for ch in text:
        if ch in ESCAPES:
            out.append(ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def canonical(value):
    """UTF-8, no whitespace, keys sorted by their UTF-8 bytes, integers only."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ValueError("the number %d is outside 64 bits" % value)
        return str(value)
    if isinstance(value, str):
        return canonical_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: key.encode("utf-8"))
        return "{" + ",".join(canonical_string(k) + ":" + canonical(value[k]) for k in keys) + "}"
    raise ValueError("%r has no canonical encoding (numbers must be integers)" % (value,))


# --- Signed notes (c2sp.org/signed-note) and the checkpoint --------------------------------

def parse_key(vkey):
    if vkey.count("+") < 2:
        raise ValueError("not a verifier key (name+keyid+base64 key)")
    name, key_id, typed = vkey.strip().split("+", 2)
    typed = base64.b64decode(typed, validate=True)
    if len(typed) != 33 or typed[0] != 0x01:
        raise ValueError("not an Ed25519 verifier key")
    key_id = bytes.fromhex(key_id)
    if sha256(name.encode(), b"\n", typed)[:4] != key_id:
        raise ValueError("the key id does not match the name and key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(typed[1:])


def open_checkpoint(note, key):
    """The checkpoint's (origin, size, root) once a signature by the key verifies."""
    name, key_id, public = key
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise Bad("the checkpoint: not a signed note")
    text, signatures = note[:split + 1], note[split + 2:-1].split("\n")
    verified = False
    for line in signatures:
        if not line.startswith("\u2014 ") or " " not in line[2:]:
            raise Bad("the checkpoint: %r is not a signature line" % line)
        signer, encoded = line[2:].split(" ", 1)
        signature = base64.b64decode(encoded)
        if signer != name or signature[:4] != key_id:
            continue
        try:
            public.verify(signature[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise Bad("the checkpoint: its signature does not verify with the key") from None
        verified = True
    if not verified:
        raise Bad("the checkpoint carries no signature by the key")
    lines = text[:-1].split("\n")
    if len(lines) != 3 or lines[0] != name or not re.fullmatch("0|[1-9][0-9]*", lines[1]):
        raise Bad("the checkpoint: expected origin, tree size and root")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise Bad("the checkpoint: the root is not 32 bytes")
    return lines[0], int(lines[1]), root


# --- RFC 9162 inclusion proof (§2.1.3.2) -------------------------------------------------

def root_from_inclusion(index, size, leaf, path):
    if index >= size:
        raise ValueError("the leaf index is past the tree")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("the proof is too long")
        if fn & 1 or fn == sn:
            r = sha256(b"\x01", p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(b"\x01", r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the proof is too short")
    return r


# --- The export ---------------------------------------------------------------------------

def check_line(number, line, stream, previous, tree_size, root):
    """Checks one event line; returns (version, hash)."""
    where = "line %d" % number

    def bad(why):
        return Bad("%s: %s" % (where, why))

    if set(line) != EVENT_KEYS or set(line["metadata"]) != METADATA_KEYS:
        raise bad("not an event line (unexpected or missing fields)")
    actor = line["metadata"]["actor"]
    if actor is not None and set(actor) != ACTOR_KEYS:
        raise bad("the actor has unexpected or missing fields")
    where = "line %d (position %s, version %s)" % (number, line["position"], line["version"])
    if (line["stream_type"], line["stream_id"]) != stream:
        raise bad("the event belongs to another stream")
    if line["version"] != previous[0] + 1:
        raise bad("expected version %d" % (previous[0] + 1))
    prev_hash, hash_ = bytes.fromhex(line["prev_hash"]), bytes.fromhex(line["hash"])
    if len(prev_hash) != 32 or len(hash_) != 32:
        raise bad("prev_hash and hash must be 32 bytes")
    if prev_hash != previous[1]:
        raise bad("prev_hash is not the previous event's hash: the chain is broken")
    hashed = {key: line[key] for key in HASHED_KEYS}
    event_bytes = canonical(hashed).encode("utf-8")
    if sha256(prev_hash, event_bytes) != hash_:
        raise bad("the event was altered: its fields do not hash to its hash")
    position = line["position"]
    if not 1 <= position <= tree_size:
        raise bad("the position is outside the checkpoint's %d events" % tree_size)
    path = [base64.b64decode(p, validate=True) for p in line["inclusion_proof"]]
    if any(len(p) != 32 for p in path):
        raise bad("the inclusion proof holds a hash that is not 32 bytes")
    try:
        computed = root_from_inclusion(position - 1, tree_size, sha256(b"\x00", hash_), path)
    except ValueError as error:
        raise bad("the inclusion proof is malformed: %s" % error) from None
    if computed != root:
        raise bad("the inclusion proof does not lead to the signed root")
    return line["version"], hash_


def verify(data, key):
    """Checks the export's bytes; returns a summary, raises Bad with the first problem."""
    if not data.endswith(b"\n"):
        raise Bad("the export does not end with a newline (truncated?)")
    lines = []
    for number, raw in enumerate(data[:-1].split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise Bad("line %d: not UTF-8: %s" % (number, error)) from None
    try:
        header = json.loads(lines[0])
    except ValueError as error:
        raise Bad("line 1: not JSON: %s" % error) from None
    if not isinstance(header, dict) or set(header) != HEADER_KEYS or header["format"] != FORMAT:
        raise Bad("line 1: not an %s header" % FORMAT)
    origin, tree_size, root = open_checkpoint(header["checkpoint"], key)
    if origin != header["origin"]:
        raise Bad("line 1: the header's origin is not the checkpoint's")
    stream = (header["stream_type"], header["stream_id"])
    previous = (0, bytes(32))
    for number, raw in enumerate(lines[1:], start=2):
        try:
            line = json.loads(raw)
            if not isinstance(line, dict):
                raise ValueError("not an object")
            previous = check_line(number, line, stream, previous, tree_size, root)
        except Bad:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise Bad("line %d: malformed: %s" % (number, error)) from None
    if len(lines) - 1 != header["events"]:
        raise Bad("line 1: the header announces %s events, the export has %d"
                  % (header["events"], len(lines) - 1))
    return "%s %s: %d events, checkpoint of %d events, root %s" % (
        stream[0], stream[1], len(lines) - 1, tree_size, base64.b64encode(root).decode())


def read(source, token=None):
    """A file's bytes, or a URL's body (with the bearer token, if any)."""
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source)
        if token:
            request.add_header("Authorization", "Bearer " + token)
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()
    with open(source, "rb") as file:
        return file.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", help="the export: a file, or its URL")
    parser.add_argument("--key", required=True,
                        help="the verifier key, a file holding it, or its URL")
    parser.add_argument("--token", help="a bearer token for fetching the export")
    args = parser.parse_args()
    try:
        is_source = args.key.startswith(("http://", "https://")) or os.path.isfile(args.key)
        vkey = read(args.key).decode("utf-8") if is_source else args.key
        key = parse_key(vkey)
        text = read(args.export, args.token)
    except (OSError, ValueError) as error:
        print("error: %s" % error, file=sys.stderr)
        return 2
    try:
        summary = verify(text, key)
    except Bad as problem:
        print("NOT INTACT: %s" % problem)
        return 1
    print("intact: %s" % summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
