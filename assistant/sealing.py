"""Sealing text at rest: what people type into a conversation (a case presentation above all)
is stored encrypted, so a copied database file or backup shows none of it.

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`, with keys derived from
`SPOKE_SECRET_KEY` by HKDF. Key rotation: set the new key as `SPOKE_SECRET_KEY` and the old
one in `SPOKE_PREVIOUS_SECRET_KEYS` (comma-separated); rows sealed with an old key still open,
and are sealed again with the new key the next time they are saved.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED = "sealed"  # the one key of a sealed JSON value: {"sealed": "<fernet token>"}


class CannotOpen(Exception):
    """A sealed value no configured key opens (a lost or wrong SPOKE_SECRET_KEY)."""


class Sealer:
    def __init__(self, secrets: Sequence[str]) -> None:
        """`secrets`: the current key first, then older ones still accepted for reading."""
        if not secrets or not all(secrets):
            raise ValueError("a sealer needs at least one non-empty secret")
        self._fernet = MultiFernet([Fernet(_derive(secret)) for secret in secrets])

    def seal(self, value: Any) -> dict[str, str]:
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return {SEALED: self._fernet.encrypt(plain).decode("ascii")}

    def open(self, stored: Any) -> Any:
        """The value; a value stored before sealing was turned on comes back as it is."""
        if not (isinstance(stored, dict) and set(stored) == {SEALED}):
            return stored
        try:
            return json.loads(self._fernet.decrypt(stored[SEALED].encode("ascii")))
        except InvalidToken as wrong_key:
            raise CannotOpen("no configured key opens this value") from wrong_key


def _derive(secret: str) -> bytes:
    """A 32-byte Fernet key from any secret string, bound to this one purpose."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"spoke",
               info=b"spoke: sealed conversation text, v1").derive(secret.encode("utf-8"))
    return base64.urlsafe_b64encode(key)
