"""The code key ring kept on disk, so ``kameng keys rotate`` can write it.

``<instance>/code_keys`` (mode 0600) holds one ``kid:base64key`` per line, the
encrypting key first (lines starting with ``#`` are comments; the one-line,
comma-separated form that older releases wrote reads the same). It is created with
one key on first start, as before.

``KAMENG_CODE_KEYS`` still works: without a ring file it is the whole ring (as in
every deployment that set it); with one, its keys EXTEND the file's (appended after
them, for decrypting only). A key id in both with different keys is an error: a
ring that cannot say which key a ciphertext needs is refused at start.

``<instance>/code_fingerprint_key`` (mode 0600) pins the fingerprint key when
``KAMENG_CODE_FINGERPRINT_KEY`` is not set: ``kameng keys rotate`` writes it with the
key the fingerprints are made with today (the oldest key of the ring), so retiring
that key later leaves every fingerprint — and import de-duplication — unchanged.

Every process re-reads the files when they change (``crypto.keyring`` looks at their
modification time at most every ``crypto.RELOAD_SECONDS``): a rotation needs no restart.
"""
from __future__ import annotations

import os
from pathlib import Path

from kameng.core.crypto import CryptoError, parse_keys

RING_FILE = "code_keys"
FINGERPRINT_FILE = "code_fingerprint_key"

HEADER = ("# kameng code key ring: the first key encrypts, every key decrypts.\n"
          "# Written by `kameng keys …`; keep it secret, back it up with the database.\n")


def ring_path(instance: str | os.PathLike) -> Path:
    return Path(instance) / RING_FILE


def fingerprint_path(instance: str | os.PathLike) -> Path:
    return Path(instance) / FINGERPRINT_FILE


def parse(text: str | None) -> list[tuple[str, str]]:
    """[(kid, base64 key)] of a ring file's text or a ``KAMENG_CODE_KEYS`` value, in
    order, unchecked (one entry a line or comma-separated; ``#`` lines are comments)."""
    entries = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            for item in line.split(","):
                if item.strip():
                    kid, _, raw = item.partition(":")
                    entries.append((kid.strip(), raw.strip()))
    return entries


def read_entries(path: Path) -> list[tuple[str, str]]:
    """[(kid, base64 key)] in file order; [] when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    entries = parse(text)
    if entries:
        parse_keys(spec(entries))  # validate
    return entries


def write_secret(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def spec(entries: list[tuple[str, str]]) -> str:
    """The entries as one ``CODE_KEYS`` value (``kid:key,kid:key``)."""
    return ",".join(f"{k}:{v}" for k, v in entries)


def render(entries: list[tuple[str, str]]) -> str:
    """The ring file's text for these entries."""
    return HEADER + "".join(f"{k}:{v}\n" for k, v in entries)


def write_entries(path: Path, entries: list[tuple[str, str]]) -> None:
    parse_keys(spec(entries))  # never write a broken ring
    write_secret(path, render(entries))


def merged(file_entries: list[tuple[str, str]], env_spec: str | None) -> list[tuple[str, str]]:
    """The file's keys, then the environment's keys it does not hold."""
    out = list(file_entries)
    mine = dict(file_entries)
    for kid, raw in parse(env_spec):
        if kid in mine:
            if parse_keys(f"{kid}:{raw}")[0][1] != parse_keys(f"{kid}:{mine[kid]}")[0][1]:
                raise CryptoError(f"code key {kid!r} differs between KAMENG_CODE_KEYS and "
                                  f"the ring file")
            continue
        out.append((kid, raw))
        mine[kid] = raw
    return out


def effective(instance: str | os.PathLike, env_spec: str | None,
              env_fingerprint: str | None, *, create: bool = True) -> tuple[str, str | None]:
    """(CODE_KEYS spec, fingerprint key or None) the processes use."""
    path = ring_path(instance)
    entries = merged(read_entries(path), env_spec)
    if not entries:
        if not create:
            raise CryptoError("no code key: no ring file and no KAMENG_CODE_KEYS")
        from kameng.core.crypto import new_key

        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two processes starting at once agree on one first key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            entries = read_entries(path)
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(render([("k1", new_key())]))
            entries = read_entries(path)
    return spec(entries), env_fingerprint or read_fingerprint(instance)


def read_fingerprint(instance) -> str | None:
    try:
        return fingerprint_path(instance).read_text().strip() or None
    except FileNotFoundError:
        return None


def stamp(instance) -> tuple:
    """What changes when either file changes (checked by the reload)."""
    out = []
    for path in (ring_path(instance), fingerprint_path(instance)):
        try:
            st = path.stat()
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)
