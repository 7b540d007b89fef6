"""Provider secrets (an epay merchant key …) sealed at rest with AES-GCM.

The key is derived from ``SECRET_KEY`` through HKDF with a purpose label, so it
is never the session-signing key itself. The sealed value is bound (as AES-GCM
associated data) to its shop, provider and field: a ciphertext copied into
another shop's row does not open. Format: ``v1:base64(nonce + ciphertext)``.

Rotating ``SECRET_KEY`` makes stored secrets unreadable: owners re-enter them.
"""
from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PURPOSE = b"kameng:payment-secret:v1"
VERSION = "v1"


class SecretError(ValueError):
    pass


def _key() -> bytes:
    secret = current_app.config.get("SECRET_KEY")
    if not secret:
        raise SecretError("SECRET_KEY is not configured")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=PURPOSE).derive(str(secret).encode())


def _aad(tenant_id: int, provider: str, name: str) -> bytes:
    return f"{PURPOSE.decode()}|{int(tenant_id)}|{provider}|{name}".encode()


def seal(plaintext: str, *, tenant_id: int, provider: str, name: str) -> str:
    nonce = os.urandom(12)
    ct = AESGCM(_key()).encrypt(nonce, plaintext.encode(), _aad(tenant_id, provider, name))
    return f"{VERSION}:{base64.urlsafe_b64encode(nonce + ct).decode()}"


def unseal(token: str, *, tenant_id: int, provider: str, name: str) -> str:
    version, _, b64 = (token or "").partition(":")
    if version != VERSION or not b64:
        raise SecretError("not a sealed payment secret")
    try:
        blob = base64.urlsafe_b64decode(b64)
        return AESGCM(_key()).decrypt(blob[:12], blob[12:],
                                      _aad(tenant_id, provider, name)).decode()
    except (InvalidTag, ValueError):
        raise SecretError(f"the stored {provider} {name} cannot be opened "
                          "(SECRET_KEY changed?); enter it again") from None
