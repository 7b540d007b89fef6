"""Card codes encrypted at rest, and a keyed fingerprint to deduplicate them.

Key ring: config ``CODE_KEYS`` = ``"kid:base64key[,kid:base64key…]"``. The FIRST
key encrypts; every key decrypts. Each ciphertext is stored with the id of the
key that made it. The ring lives in a file of the instance folder that
``KAMENG_CODE_KEYS`` may extend (``kameng.core.keyfile``); rotating is
``kameng keys rotate`` (a new first key, every stored code and secret re-encrypted
in the background, see ``kameng.ops.rotation``), and every process picks the
changed file up within seconds.

Ciphertext: AES-256-GCM (or 128/192 by key length), ``nonce(12) || ct || tag``,
with associated data chosen by the caller (the stock service binds a code to its
product, so a ciphertext moved to another product no longer decrypts).

Fingerprint: HMAC-SHA256 of the code under a key derived (HKDF-SHA256) from
  * config ``CODE_FINGERPRINT_KEY`` (base64) when set, else
  * the LAST key of the ring — the oldest one, the "first-ever" key, since new
    keys are prepended.
Either way the fingerprint key does not change when a new key is added, so
fingerprints (and dedupe) stay stable across rotation. To retire the oldest key
altogether, the fingerprint key must be pinned to that key's base64 value first:
``kameng keys rotate`` does it (the ``code_fingerprint_key`` file) unless
``CODE_FINGERPRINT_KEY`` is set.

Stored secrets (a supplier's API secret, a shop's payment-provider key) go
through ``seal``/``unseal``: the same ring, stored as ``kid:base64(nonce + ct)``,
bound to associated data naming what the secret is for. Rotating ``SECRET_KEY``
(the session key) does not touch them.

Nothing here ever puts a plaintext code into an exception message.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_FP_INFO = b"kameng card-code fingerprint v1"


class CryptoError(Exception):
    """A key ring that cannot be used, or a ciphertext that does not decrypt."""


def _b64(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("a code key is not valid base64") from None


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    """'k2:…,k1:…' -> [('k2', key), ('k1', key)], newest first."""
    keys: list[tuple[str, bytes]] = []
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, raw = item.partition(":")
        kid = kid.strip()
        if not sep or not KID_RE.match(kid):
            raise CryptoError("CODE_KEYS entries look like 'kid:base64key' "
                              "(kid: 1-16 letters, digits, '-' or '_')")
        key = _b64(raw)
        if len(key) not in (16, 24, 32):
            raise CryptoError(f"code key {kid!r} must be 16, 24 or 32 bytes")
        if any(k == kid for k, _ in keys):
            raise CryptoError(f"code key id {kid!r} appears twice")
        keys.append((kid, key))
    if not keys:
        raise CryptoError("CODE_KEYS holds no key")
    return keys


class KeyRing:
    def __init__(self, spec: str, fingerprint_key: str | None = None):
        keys = parse_keys(spec)
        self.primary_id = keys[0][0]
        self._aead = {kid: AESGCM(key) for kid, key in keys}
        seed = _b64(fingerprint_key) if fingerprint_key else keys[-1][1]
        self._fp_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                            info=_FP_INFO).derive(seed)

    @property
    def key_ids(self) -> list[str]:
        return list(self._aead)

    def fingerprint(self, code: str | bytes) -> bytes:
        data = code.encode() if isinstance(code, str) else code
        return hmac.digest(self._fp_key, data, hashlib.sha256)

    def encrypt(self, code: str | bytes, aad: bytes | None = None) -> tuple[str, bytes]:
        data = code.encode() if isinstance(code, str) else code
        nonce = os.urandom(NONCE_BYTES)
        return self.primary_id, nonce + self._aead[self.primary_id].encrypt(nonce, data, aad)

    def sealer(self):
        """A fast ``seal(data: bytes, aad) -> (fingerprint, blob)`` for bulk imports."""
        aead = self._aead[self.primary_id].encrypt
        fp_key = self._fp_key
        digest = hmac.digest
        sha256 = hashlib.sha256
        urandom = os.urandom
        pool = b""
        pos = 0

        def seal(data: bytes, aad: bytes | None) -> tuple[bytes, bytes]:
            nonlocal pool, pos
            if pos >= len(pool):  # one urandom call per 4096 nonces
                pool, pos = urandom(NONCE_BYTES * 4096), 0
            nonce = pool[pos:pos + NONCE_BYTES]
            pos += NONCE_BYTES
            return digest(fp_key, data, sha256), nonce + aead(nonce, data, aad)

        return seal

    def decrypt(self, key_id: str, blob: bytes, aad: bytes | None = None) -> str:
        aead = self._aead.get(key_id)
        if aead is None:
            raise CryptoError(f"code key {key_id!r} is not in CODE_KEYS")
        blob = bytes(blob)
        try:
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad).decode()
        except (InvalidTag, ValueError):
            raise CryptoError(f"a code does not decrypt with key {key_id!r}") from None


@lru_cache(maxsize=8)
def _ring(spec: str, fingerprint_key: str | None) -> KeyRing:
    return KeyRing(spec, fingerprint_key)


def keyring(app=None) -> KeyRing:
    """The app's key ring (built once per configuration value), re-read from the ring
    file when ``kameng keys …`` changed it (``kameng.core.keyfile``)."""
    from flask import current_app

    cfg = (app or current_app).config
    if "CODE_KEYS_STAMP" in cfg:
        _reload_if_changed(cfg)
    return _ring(cfg["CODE_KEYS"], cfg.get("CODE_FINGERPRINT_KEY") or None)


# how often a process looks whether the ring file changed (kameng.core.keyfile)
RELOAD_SECONDS = 2.0
_next_look: dict[int, float] = {}


def _reload_if_changed(cfg) -> None:
    now = time.monotonic()
    if now < _next_look.get(id(cfg), 0.0):
        return  # the hot path: one clock read
    from kameng.core import keyfile  # it imports this module

    _next_look[id(cfg)] = now + RELOAD_SECONDS
    instance = cfg["INSTANCE_PATH"]
    seen = keyfile.stamp(instance)
    if seen == cfg["CODE_KEYS_STAMP"]:
        return
    # a half-written file cannot be seen (the writer renames a finished one into place);
    # a broken ring keeps the one in use, and is reported by `kameng doctor`
    try:
        spec, fingerprint = keyfile.effective(instance, cfg.get("CODE_KEYS_CONFIGURED"),
                                              cfg.get("CODE_FINGERPRINT_KEY_CONFIGURED"),
                                              create=False)
        KeyRing(spec, fingerprint)
    except (CryptoError, OSError):
        return
    cfg["CODE_KEYS"], cfg["CODE_FINGERPRINT_KEY"] = spec, fingerprint
    cfg["CODE_KEYS_STAMP"] = seen


def reload_now(app=None) -> KeyRing:
    """Re-read the ring file at once (the command that just wrote it)."""
    from flask import current_app

    cfg = (app or current_app).config
    _next_look.pop(id(cfg), None)
    return keyring(app)


def _token(kid: str, blob: bytes) -> str:
    return f"{kid}:{base64.urlsafe_b64encode(blob).decode()}"


def _untoken(token: str) -> tuple[str, bytes]:
    kid, _, b64 = (token or "").partition(":")
    try:
        return kid, base64.urlsafe_b64decode(b64)
    except (binascii.Error, ValueError):
        raise CryptoError("a sealed secret is not valid base64") from None


def seal(plaintext: str, aad: bytes, app=None) -> str:
    """A secret as stored: ``kid:base64(nonce + ciphertext)`` under the ring's first key."""
    return _token(*keyring(app).encrypt(plaintext, aad=aad))


def unseal(token: str, aad: bytes, app=None) -> str:
    """The plaintext of ``seal``'s output; CryptoError if it does not open with these
    keys and this associated data."""
    kid, blob = _untoken(token)
    return keyring(app).decrypt(kid, blob, aad=aad)


def reseal(ring: KeyRing, token: str, aad: bytes) -> str:
    """``seal``'s output opened with ``ring`` and sealed again under its first key (key
    rotation)."""
    kid, blob = _untoken(token)
    return _token(*ring.encrypt(ring.decrypt(kid, blob, aad), aad))


def new_key() -> str:
    """A fresh base64 key for CODE_KEYS."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()
