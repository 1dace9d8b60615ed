"""Access tokens: random strings handed out once; only their SHA-256 is stored.

A token carries about 134 bits of entropy, so a fast hash is enough at rest: unlike a
password it cannot be guessed from a dictionary.
"""

from __future__ import annotations

import hashlib
import secrets
import string

_ALPHABET = string.digits + string.ascii_lowercase
TOKEN_LENGTH = 26


def new_token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_password(length: int = 16) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
