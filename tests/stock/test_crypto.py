"""The key ring: AES-GCM with key ids, rotation, and a fingerprint that survives it."""
from __future__ import annotations

import base64
import os

import pytest

from kameng.core.crypto import CryptoError, KeyRing, new_key, parse_keys


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_encrypt_decrypt_round_trip_with_key_id():
    ring = KeyRing(f"k1:{new_key()}")
    kid, blob = ring.encrypt("ABCD-1234", aad=b"p1")
    assert kid == "k1" and b"ABCD-1234" not in blob
    assert ring.decrypt(kid, blob, aad=b"p1") == "ABCD-1234"
    # a fresh nonce every time: the same code never gives the same ciphertext
    assert ring.encrypt("ABCD-1234", aad=b"p1")[1] != blob


def test_wrong_associated_data_or_tampering_does_not_decrypt_and_names_no_code():
    ring = KeyRing(f"k1:{key()}")
    kid, blob = ring.encrypt("SECRET-CODE-42", aad=b"p1")
    with pytest.raises(CryptoError) as err:
        ring.decrypt(kid, blob, aad=b"p2")
    assert "SECRET-CODE-42" not in str(err.value)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(CryptoError):
        ring.decrypt(kid, tampered, aad=b"p1")


def test_rotation_old_codes_decrypt_new_codes_use_new_key_fingerprint_stable():
    k1 = key()
    old = KeyRing(f"k1:{k1}")
    kid, blob = old.encrypt("OLD-CODE")
    rotated = KeyRing(f"k2:{key()},k1:{k1}")
    assert rotated.primary_id == "k2"
    assert rotated.decrypt(kid, blob) == "OLD-CODE"
    assert rotated.encrypt("NEW")[0] == "k2"
    assert rotated.fingerprint("OLD-CODE") == old.fingerprint("OLD-CODE")
    with pytest.raises(CryptoError):
        KeyRing(f"k2:{key()}").decrypt(kid, blob)


def test_pinned_fingerprint_key_lets_the_oldest_key_retire():
    k1 = key()
    before = KeyRing(f"k1:{k1}")
    after = KeyRing(f"k3:{key()}", fingerprint_key=k1)
    assert after.fingerprint("X-1") == before.fingerprint("X-1")
    assert KeyRing(f"k3:{key()}").fingerprint("X-1") != before.fingerprint("X-1")


def test_fingerprint_is_keyed():
    assert KeyRing(f"a:{key()}").fingerprint("C") != KeyRing(f"a:{key()}").fingerprint("C")


@pytest.mark.parametrize("spec", ["", "nokey", "k1:!!!", "k1:" + base64.b64encode(b"short").decode(),
                                  f"k1:{key()},k1:{key()}", f"bad id:{key()}"])
def test_bad_key_rings_are_refused(spec):
    with pytest.raises(CryptoError):
        parse_keys(spec)
