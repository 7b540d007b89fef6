"""The key ring's life: rotate (a new first key, re-encrypt everything), retire an old key.

The ring file and its rules: ``kameng.core.keyfile``. Each command writes the file
atomically (a finished file is renamed into place) and every process re-reads it
within ``crypto.RELOAD_SECONDS``.
"""
from __future__ import annotations

from flask import current_app

from kameng.core import crypto, keyfile
from kameng.core.errors import Conflict, InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.ops import rotation

# the job waits this long after the ring file changed: every process has re-read it by
# then (they look every RELOAD_SECONDS), so none writes under the old key afterwards
SETTLE_SECONDS = 3 * crypto.RELOAD_SECONDS


def _instance() -> str:
    return current_app.config["INSTANCE_PATH"]


def entries() -> list[tuple[str, str]]:
    """The ring as the processes use it: the file's keys, then KAMENG_CODE_KEYS' others."""
    return keyfile.merged(keyfile.read_entries(keyfile.ring_path(_instance())),
                          current_app.config.get("CODE_KEYS_CONFIGURED"))


def _next_kid(taken: set[str]) -> str:
    n = len(taken) + 1
    while f"k{n}" in taken:
        n += 1
    return f"k{n}"


def pin_fingerprint(ring_entries: list[tuple[str, str]]) -> bool:
    """Write the fingerprint key file from the key fingerprints are made with today (the
    last of the ring) unless it is pinned already; True when it wrote it."""
    cfg = current_app.config
    if cfg.get("CODE_FINGERPRINT_KEY_CONFIGURED") or keyfile.read_fingerprint(_instance()):
        return False
    keyfile.write_secret(keyfile.fingerprint_path(_instance()), ring_entries[-1][1] + "\n")
    return True


def rotate(*, settle_seconds: float = SETTLE_SECONDS, reencrypt: bool = True):
    """A new first key in the ring file and a rotation that moves every row to it.
    Returns (new key id, the KeyRotation)."""
    busy = rotation.running()
    if busy is not None:
        raise Conflict(_l("rotation %(id)s to key %(kid)s is still running; see "
                          "`kameng keys status` (or `kameng keys reencrypt` to resume it)",
                          id=busy.id, kid=busy.key_id))
    current = entries()
    before = crypto.KeyRing(keyfile.spec(current),
                            current_app.config.get("CODE_FINGERPRINT_KEY") or None)
    pin_fingerprint(current)
    kid = _next_kid({k for k, _ in current})
    keyfile.write_entries(keyfile.ring_path(_instance()), [(kid, crypto.new_key()), *current])
    ring = crypto.reload_now()
    # the fingerprints of codes already in stock must not move
    probe = b"kameng fingerprint probe"
    if ring.fingerprint(probe) != before.fingerprint(probe) or ring.primary_id != kid:
        raise RuntimeError("the rewritten key ring does not keep the fingerprint key")
    return kid, rotation.start(kid, settle_seconds=settle_seconds, enqueue=reencrypt)


def reencrypt():
    """Resume (or start) moving rows to the ring's first key: the running rotation, or a
    new one when every earlier one finished but rows still use an older key."""
    ring = crypto.reload_now()
    busy = rotation.running()
    if busy is not None and busy.key_id == ring.primary_id:
        rotation.clear_error(busy.id)
        rotation.resume(busy.id)
        return busy
    if busy is not None:
        rotation.finish_superseded(busy.id, ring.primary_id)
    return rotation.start(ring.primary_id, settle_seconds=SETTLE_SECONDS)


def retire(kid: str) -> dict[str, int]:
    """Remove ``kid`` from the ring file; refused while a row still needs it."""
    current = entries()
    kids = [k for k, _ in current]
    if kid not in kids:
        raise InvalidInput(_l("no key %(kid)s in the ring", kid=kid), field="kid")
    ring = crypto.reload_now()
    if kid == ring.primary_id:
        raise Conflict(_l("%(kid)s is the encrypting key; rotate first", kid=kid))
    used = {name: n for name, n in rotation.count_using(kid).items() if n}
    if used:
        detail = ", ".join(f"{name} {n}" for name, n in used.items())
        raise Conflict(_l("%(count)s row(s) still use key %(kid)s (%(detail)s); run "
                          "`kameng keys reencrypt` and wait for it to finish",
                          count=sum(used.values()), kid=kid, detail=detail))
    pin_fingerprint(current)  # the oldest key may be the one fingerprints come from
    file_entries = keyfile.read_entries(keyfile.ring_path(_instance()))
    remaining = [(k, v) for k, v in (file_entries or current) if k != kid]
    keyfile.write_entries(keyfile.ring_path(_instance()), remaining)
    crypto.reload_now()
    return {"kept": len(remaining)}


def in_environment(kid: str) -> bool:
    configured = keyfile.parse(current_app.config.get("CODE_KEYS_CONFIGURED"))
    return any(k == kid for k, _ in configured)
