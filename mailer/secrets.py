"""Secrets at rest: AES-256-GCM under versioned keys from MAILER_SECRET_KEY, bound to their field.

A stored secret is the token `<version>$<base64(nonce + ciphertext)>`. The version names the key
that encrypted it, so keys can rotate: the first key of MAILER_SECRET_KEY encrypts, every listed
key decrypts, and `reencrypt` moves an old token to the current key. The `context` (for example
`tenant:acme:smtp_password`) is authenticated as associated data, so a token copied into another
field or another tenant's row does not decrypt. Failures raise `SecretKeyError` and name the key
version, never the key or the data.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mailer.errors import ConfigurationError
from mailer.settings import Settings

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "SecretBox",
    "SecretKeyError",
    "generate_secret_key",
]

KEY_BYTES = 32
NONCE_BYTES = 12
DEFAULT_VERSION = "k1"
SETTING = "MAILER_SECRET_KEY"
_VERSION = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_TOKEN_SEPARATOR = "$"  # noqa: S105  (not a password)


class SecretKeyError(ConfigurationError):
    """A secret cannot be encrypted or decrypted with the configured keys (or none are set)."""


def _decode_key(text: str, position: int) -> bytes:
    try:
        raw = base64.b64decode(
            text.strip() + "=" * (-len(text.strip()) % 4), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"{SETTING} entry {position}: the key is not base64") from None
    if len(raw) != KEY_BYTES:
        raise SecretKeyError(f"{SETTING} entry {position}: the key must be {KEY_BYTES} bytes")
    return raw


class SecretBox:
    """Encrypts and decrypts with the keys of MAILER_SECRET_KEY; the first one is current."""

    __slots__ = ("_ciphers", "_current")

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise SecretKeyError(f"{SETTING} holds no key")
        ciphers: dict[str, AESGCM] = {}
        for version, key in keys:
            if not _VERSION.fullmatch(version):
                raise SecretKeyError(f"{SETTING}: key version {version[:32]!r} is not a plain name")
            if version in ciphers:
                raise SecretKeyError(f"{SETTING}: key version {version!r} appears twice")
            if len(key) != KEY_BYTES:
                raise SecretKeyError(f"{SETTING}: key {version!r} must be {KEY_BYTES} bytes")
            ciphers[version] = AESGCM(key)
        self._ciphers = ciphers
        self._current = keys[0][0]

    @classmethod
    def parse(cls, value: str) -> SecretBox:
        """`k2:<base64>,k1:<base64>` -> a SecretBox; errors name the entry, never the key."""
        keys: list[tuple[str, bytes]] = []
        for position, item in enumerate(value.split(","), start=1):
            if not item.strip():
                continue
            version, sep, key = (part.strip() for part in item.partition(":"))
            if not sep or not version or not key:
                raise SecretKeyError(f"{SETTING} entry {position} is not `version:base64-key`")
            keys.append((version, _decode_key(key, position)))
        return cls(keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox | None:
        """The box of MAILER_SECRET_KEY, or None when it is unset (secrets cannot be stored)."""
        if settings.secret_key is None or not settings.secret_key.get_secret_value().strip():
            return None
        return cls.parse(settings.secret_key.get_secret_value())

    @property
    def current_version(self) -> str:
        return self._current

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"SecretBox(versions={list(self._ciphers)!r})"

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """A token for `plaintext` under the current key, valid only for `context`."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        return f"{self._current}{_TOKEN_SEPARATOR}{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, context: str) -> str:
        """The plaintext of a token made by `encrypt` for the same context; loud on any doubt."""
        version, payload = self._split(token, context)
        cipher = self._ciphers.get(version)
        if cipher is None:
            raise SecretKeyError(
                f"the secret {context!r} was encrypted with key version {version!r}, "
                f"which {SETTING} does not hold (it holds {', '.join(self._ciphers)})"
            )
        try:
            plain = cipher.decrypt(payload[:NONCE_BYTES], payload[NONCE_BYTES:], context.encode())
            return plain.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise SecretKeyError(
                f"the secret {context!r} does not decrypt with key version {version!r}: "
                "the key is wrong, or the stored value was altered or belongs to another field"
            ) from None

    def needs_rotation(self, token: str) -> bool:
        """True when the token was made with another key than the current one."""
        version, _, _ = token.partition(_TOKEN_SEPARATOR)
        return version != self._current

    def reencrypt(self, token: str, context: str) -> str:
        """The same secret under the current key (the token itself when it already is)."""
        if not self.needs_rotation(token):
            self.decrypt(token, context=context)  # still proves the token is sound
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)

    @staticmethod
    def _split(token: str, context: str) -> tuple[str, bytes]:
        version, sep, encoded = token.partition(_TOKEN_SEPARATOR)
        if sep and _VERSION.fullmatch(version):
            try:
                payload = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                payload = b""
            if len(payload) >= NONCE_BYTES + 16:  # nonce, then at least the 16-byte GCM tag
                return version, payload
        raise SecretKeyError(f"the stored secret {context!r} is not an encrypted secret token")


def generate_secret_key(version: str = DEFAULT_VERSION) -> str:
    """A fresh `version:base64-key` entry for MAILER_SECRET_KEY (prepend it to rotate)."""
    if not _VERSION.fullmatch(version):
        raise ValueError("a key version is letters, digits, '.', '_' or '-' (at most 32)")
    return f"{version}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"
