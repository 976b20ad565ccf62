"""API keys: random, shown once, stored as a SHA-256 hash and found by their prefix."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PATTERN = re.compile(r"^pgk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    key_hash: bytes


def generate() -> NewKey:
    """A fresh key with 256 bits of secret; a fast hash is safe for keys of that entropy."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    plaintext = f"pgk_{prefix}_{secret}"
    return NewKey(plaintext=plaintext, prefix=prefix, key_hash=hash_key(plaintext))


def hash_key(plaintext: str) -> bytes:
    return hashlib.sha256(plaintext.encode("utf-8")).digest()


def parse_prefix(plaintext: str) -> str | None:
    """The lookup prefix of a well-formed key, or None."""
    match = KEY_PATTERN.match(plaintext)
    return match.group(1) if match else None


def matches(plaintext: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_key(plaintext), bytes(stored_hash))
