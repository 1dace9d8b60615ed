"""Secrets Callboard must use later in clear (a trunk's password), encrypted at rest.

AES-256-GCM with a key kept outside the database: `CALLBOARD_SECRET_KEY`, or a key file
made on first start in the data directory, readable only by its owner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1:"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the secret key is 32 bytes")
        self._aead = AESGCM(key)
        self._key = key

    @classmethod
    def from_key_text(cls, text: str) -> SecretBox:
        return cls(base64.urlsafe_b64decode(text.strip().encode()))

    @classmethod
    def load_or_create(cls, path: Path) -> SecretBox:
        if path.exists():
            return cls.from_key_text(path.read_text())
        key = secrets.token_bytes(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(base64.urlsafe_b64encode(key).decode())
        return cls(key)

    def derive(self, purpose: str) -> bytes:
        """A key for another purpose (e.g. signing SIP nonces), stable across restarts."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()

    def seal(self, plaintext: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise ValueError("not a sealed secret")
        raw = base64.urlsafe_b64decode(sealed[len(_PREFIX) :].encode())
        try:
            return self._aead.decrypt(raw[:12], raw[12:], None).decode("utf-8")
        except InvalidTag as error:
            raise ValueError("the secret was sealed with another key") from error
