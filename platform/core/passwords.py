"""Password hashing with argon2id."""
from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context


@cache
def _hasher(profile: str) -> PasswordHasher:
    # "RFC_9106_LOW_MEMORY" in production; tests may pick "CHEAPEST" (KAMENG_ARGON2_PROFILE)
    return PasswordHasher.from_parameters(getattr(profiles, profile))


def hasher() -> PasswordHasher:
    profile = current_app.config.get("ARGON2_PROFILE") if has_app_context() else None
    return _hasher(profile or "RFC_9106_LOW_MEMORY")


@cache
def _dummy_hash(profile_hasher: PasswordHasher) -> str:
    # verifying against this when the account does not exist keeps timing the same
    return profile_hasher.hash("kameng-no-such-account")


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    h = hasher()
    try:
        return h.verify(stored or _dummy_hash(h), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return hasher().check_needs_rehash(stored)
