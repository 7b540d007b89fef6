"""Supplier API secrets sealed at rest with the platform key ring (``kameng.core.crypto``).

AES-GCM under the first ``CODE_KEYS`` key, with associated data naming the
purpose, so a sealed supplier secret cannot be passed off as a card code (or the
other way round). Stored as ``kid:base64(nonce + ciphertext)``; the key id lets
keys rotate like card codes do.
"""
from __future__ import annotations

import base64
import binascii

from kameng.core.crypto import CryptoError, keyring

AAD = b"kameng:supplier-secret:v1"


class SecretBoxError(ValueError):
    pass


def seal(plaintext: str) -> str:
    kid, blob = keyring().encrypt(plaintext, aad=AAD)
    return f"{kid}:{base64.urlsafe_b64encode(blob).decode()}"


def unseal(token: str) -> str:
    kid, _, b64 = (token or "").partition(":")
    try:
        return keyring().decrypt(kid, base64.urlsafe_b64decode(b64), aad=AAD)
    except (CryptoError, binascii.Error, ValueError):
        raise SecretBoxError("the stored supplier secret cannot be opened with CODE_KEYS; "
                             "enter it again") from None
