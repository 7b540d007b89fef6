"""Supplier API secrets sealed at rest with the platform key ring (``kameng.core.crypto``).

The associated data names the purpose, so a sealed supplier secret cannot be
passed off as a card code or a payment key (or the other way round).
"""
from __future__ import annotations

from kameng.core import crypto

AAD = b"kameng:supplier-secret:v1"


class SecretBoxError(ValueError):
    pass


def seal(plaintext: str) -> str:
    return crypto.seal(plaintext, AAD)


def unseal(token: str) -> str:
    try:
        return crypto.unseal(token, AAD)
    except crypto.CryptoError:
        raise SecretBoxError("the stored supplier secret cannot be opened with CODE_KEYS; "
                             "enter it again") from None
