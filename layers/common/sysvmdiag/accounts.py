"""API keys: how they are made, hashed and compared.

Keys are 32 random bytes from :mod:`secrets` (256 bits of entropy), so a single fast SHA-256 is the right
hash: slow, salted password hashes (bcrypt, scrypt, argon2) exist to stop guessing of *low-entropy*
secrets, and nobody can enumerate a 2**256 space however fast the hash is. A fast, unsalted hash is also
what lets the stored item be keyed by the hash, so the authorizer finds a key's account with one GetItem
and never needs the clear key at rest.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_KEY_BYTES = 32
# token_urlsafe(32) gives 43 characters; anything much shorter cannot carry 32 random bytes.
API_KEY_MIN_LENGTH = 32


# A key starts with letters: a random one could otherwise start with "-", which argparse takes for an
# option (`sysvmdiag run --key -AbC...` fails), and a fixed prefix lets secret scanners spot leaked keys.
API_KEY_PREFIX = "svmd_"


def generate_api_key() -> str:
    """A new URL-safe API key carrying API_KEY_BYTES random bytes behind API_KEY_PREFIX."""
    return API_KEY_PREFIX + secrets.token_urlsafe(API_KEY_BYTES)


def hash_api_key(api_key: str) -> str:
    """The hex SHA-256 of a key: what is stored, and what items are keyed by."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def api_key_matches(api_key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash (no timing side channel)."""
    return hmac.compare_digest(hash_api_key(api_key), stored_hash)


def check_api_key_strength(api_key: str) -> None:
    """Refuse keys too short to hold 32 random bytes: the fast-hash argument above needs entropy."""
    if len(api_key) < API_KEY_MIN_LENGTH:
        raise ValueError(
            f"an API key needs at least {API_KEY_MIN_LENGTH} characters (use generate_api_key())"
        )
