"""Provider secrets (an epay merchant key …) sealed at rest with the platform key ring.

``kameng.core.crypto.seal``: AES-GCM under the first ``CODE_KEYS`` key, stored
with the key's id, so keys rotate like card codes do and rotating ``SECRET_KEY``
loses nothing. The sealed value is bound (as associated data) to its shop,
provider and field: a ciphertext copied into another shop's row does not open.
"""
from __future__ import annotations

from kameng.core import crypto

PURPOSE = "kameng:payment-secret:v1"


class SecretError(ValueError):
    pass


def aad(tenant_id: int, provider: str, name: str) -> bytes:
    return f"{PURPOSE}|{int(tenant_id)}|{provider}|{name}".encode()


def seal(plaintext: str, *, tenant_id: int, provider: str, name: str) -> str:
    return crypto.seal(plaintext, aad(tenant_id, provider, name))


def unseal(token: str, *, tenant_id: int, provider: str, name: str) -> str:
    try:
        return crypto.unseal(token, aad(tenant_id, provider, name))
    except crypto.CryptoError:
        raise SecretError(f"the stored {provider} {name} cannot be opened with CODE_KEYS; "
                          "enter it again") from None
