"""Password hashing with argon2id.

Two hashers: account passwords use ``KAMENG_ARGON2_PROFILE``; the lookup passwords of
guest orders (查询密码) use cheaper parameters (``LOOKUP_PARAMETERS``, still argon2id,
never dearer than the account profile). Every guest order costs one hash at checkout, so
the account's cost there would be a cheap way to load the server; a lookup password
guards one order, behind the look-up's rate limit. argon2 writes its parameters into
each hash, so either hasher verifies a hash made with any parameters (lookup hashes
stored before the split still verify).
"""
from __future__ import annotations

import dataclasses
from functools import cache

from argon2 import PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context

# OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane) against RFC 9106's low-memory
# profile for accounts (64 MiB, 3 passes, 4 lanes)
LOOKUP_PARAMETERS = profiles.Parameters(type=Type.ID, version=19, salt_len=16, hash_len=32,
                                        time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def _hasher(profile: str) -> PasswordHasher:
    # "RFC_9106_LOW_MEMORY" in production; tests may pick "CHEAPEST" (KAMENG_ARGON2_PROFILE)
    return PasswordHasher.from_parameters(getattr(profiles, profile))


@cache
def _lookup_hasher(profile: str) -> PasswordHasher:
    account = getattr(profiles, profile)
    cheaper = dataclasses.replace(
        LOOKUP_PARAMETERS,
        time_cost=min(LOOKUP_PARAMETERS.time_cost, account.time_cost),
        memory_cost=min(LOOKUP_PARAMETERS.memory_cost, account.memory_cost),
        parallelism=min(LOOKUP_PARAMETERS.parallelism, account.parallelism),
        salt_len=min(LOOKUP_PARAMETERS.salt_len, account.salt_len),
        hash_len=min(LOOKUP_PARAMETERS.hash_len, account.hash_len))
    return PasswordHasher.from_parameters(cheaper)


def _profile() -> str:
    profile = current_app.config.get("ARGON2_PROFILE") if has_app_context() else None
    return profile or "RFC_9106_LOW_MEMORY"


def hasher() -> PasswordHasher:
    return _hasher(_profile())


def lookup_hasher() -> PasswordHasher:
    """The hasher of guest orders' lookup passwords (cheaper than accounts')."""
    return _lookup_hasher(_profile())


@cache
def _dummy_hash(profile_hasher: PasswordHasher) -> str:
    # verifying against this when the account does not exist keeps timing the same
    return profile_hasher.hash("kameng-no-such-account")


def _verify(h: PasswordHasher, stored: str | None, password: str) -> bool:
    try:
        return h.verify(stored or _dummy_hash(h), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    return _verify(hasher(), stored, password)


def needs_rehash(stored: str) -> bool:
    return hasher().check_needs_rehash(stored)


def hash_lookup_password(password: str) -> str:
    return lookup_hasher().hash(password)


def verify_lookup_password(stored: str | None, password: str) -> bool:
    """A lookup password against its hash (any argon2 parameters); with no order
    (``stored`` None) a dummy hash of the lookup parameters is verified: same time."""
    return _verify(lookup_hasher(), stored, password)
