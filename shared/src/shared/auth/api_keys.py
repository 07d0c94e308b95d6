"""API keys of lead sources: random, shown once, stored only as a hash.

A key is `fck_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole key is
compared in constant time. The secret has 256 bits of entropy, so a fast hash is enough (a slow
password hash would only cost latency on every lead).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

_SCHEME = "fck"


@dataclass(frozen=True)
class ApiKey:
    key: str  # shown to the admin once, never stored
    prefix: str
    hash: str


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key() -> ApiKey:
    prefix = secrets.token_hex(6)
    key = f"{_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    return ApiKey(key=key, prefix=prefix, hash=hash_api_key(key))


def key_prefix(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != _SCHEME or len(parts[1]) != 12:
        return None
    return parts[1]


def verify_api_key(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)
