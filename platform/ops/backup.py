"""``kameng backup PATH`` / ``kameng restore PATH``: the database, the key ring and the
instance files in one tar file.

What a backup holds (a plain tar, mode 0600 — it holds the keys: keep it like them):

- ``manifest.json``: format, backend, migration revision, when, what is inside;
- ``database.dump``: ``pg_dump --format=custom`` on PostgreSQL (``pg_dump`` must be on
  PATH, the same major version as the server or newer); ``database.sqlite``: a copy made
  with SQLite's online backup API (consistent while the app keeps writing);
- ``instance/code_keys``: the WHOLE ring in use (the ring file and any
  ``KAMENG_CODE_KEYS`` keys), ``instance/code_fingerprint_key`` (the fingerprint key in
  use, pinned), ``instance/secret_key`` when the instance folder has one;
- ``media/``: the uploaded images (``KAMENG_MEDIA_DIR`` or ``<instance>/media``).

The database and the ring are read in that order: a key rotation running meanwhile
only ADDS keys before it moves rows, so the ring copied after the dump opens every row
of the dump.

Restore goes into an EMPTY database (no tables: a new PostgreSQL database, a new SQLite
file) and an instance folder whose ring no row uses yet; the ring files found there are
kept beside as ``*.before-restore``.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import make_url

from kameng.core import crypto, keyfile
from kameng.core.errors import Conflict, InvalidInput
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.ops import keys
from kameng.shop.catalog.images import media_root

FORMAT = "kameng-backup-1"


def _libpq(url: sa.URL) -> tuple[str, dict]:
    """The SQLAlchemy URL as libpq reads it (no ``+psycopg`` driver part), and the
    environment carrying its password (never on the command line: ``ps`` shows that)."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(), env


def _revision() -> str | None:
    try:
        return db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    except sa.exc.DBAPIError:
        db.session.rollback()
        return None


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(utcnow().timestamp())
    tar.addfile(info, io.BytesIO(data))


def backup(path: str | os.PathLike) -> dict:
    """Write the backup tar to ``path`` (must not exist). Returns the manifest."""
    path = Path(path)
    if path.exists():
        raise InvalidInput(_l("%(path)s already exists; choose a new file", path=str(path)))
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    backend = url.get_backend_name()
    manifest = {"format": FORMAT, "backend": backend, "revision": _revision(),
                "created_at": utcnow().isoformat(), "files": []}
    db.session.rollback()  # no transaction of ours open while the dump runs
    with tempfile.TemporaryDirectory(prefix="kameng-backup-") as work:
        if backend == "postgresql":
            dump = Path(work) / "database.dump"
            _pg_dump(url, dump)
            manifest["database"] = "database.dump"
        elif backend == "sqlite":
            dump = Path(work) / "database.sqlite"
            _sqlite_copy(Path(url.database), dump)
            manifest["database"] = "database.sqlite"
        else:
            raise InvalidInput(_l("backups support PostgreSQL and SQLite, not %(backend)s",
                                  backend=backend))
        ring = crypto.reload_now()
        instance = Path(current_app.config["INSTANCE_PATH"])
        entries = keys.entries()
        fingerprint = (current_app.config.get("CODE_FINGERPRINT_KEY")
                       or entries[-1][1])  # what fingerprints are made with today
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w") as tar:
                tar.add(dump, arcname=manifest["database"])
                _add_bytes(tar, "instance/code_keys", keyfile.render(entries).encode())
                _add_bytes(tar, "instance/code_fingerprint_key", (fingerprint + "\n").encode())
                manifest["files"] += ["instance/code_keys", "instance/code_fingerprint_key"]
                secret = instance / "secret_key"
                if secret.exists():
                    _add_bytes(tar, "instance/secret_key", secret.read_bytes())
                    manifest["files"].append("instance/secret_key")
                media = media_root()
                if media.is_dir():
                    tar.add(media, arcname="media")
                    manifest["files"].append("media/")
                manifest["keys"] = [k for k, _ in entries]
                manifest["encrypting_key"] = ring.primary_id
                _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return manifest


def _pg_dump(url: sa.URL, out: Path) -> None:
    exe = shutil.which("pg_dump")
    if exe is None:
        raise Conflict(_l("pg_dump is not on PATH: install the PostgreSQL client tools "
                          "(e.g. apt install postgresql-client) or back up by hand "
                          "(docs/operations.md)"))
    dsn, env = _libpq(url)
    result = subprocess.run(
        [exe, "--format=custom", "--no-owner", "--no-privileges", f"--file={out}",
         "--dbname", dsn], env=env, capture_output=True, text=True)
    if result.returncode:
        raise Conflict(_l("pg_dump failed: %(error)s", error=result.stderr.strip()[-500:]))


def _sqlite_copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)  # the online backup API: a consistent copy while others write
    finally:
        dst.close()
        src.close()


def _is_empty() -> bool:
    return not sa.inspect(db.engine).get_table_names()


def restore(path: str | os.PathLike) -> dict:
    """Restore a backup into this app's (empty) database and instance folder."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(_l("no backup file %(path)s", path=str(path)))
    db.session.rollback()
    if not _is_empty():
        raise Conflict(_l("the database is not empty: restore goes into a new, empty "
                          "database"))
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    instance = Path(current_app.config["INSTANCE_PATH"])
    with tempfile.TemporaryDirectory(prefix="kameng-restore-") as work, \
            tarfile.open(path, mode="r") as tar:
        tar.extractall(work, filter="data")
        work = Path(work)
        manifest = json.loads((work / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            raise InvalidInput(_l("%(path)s is not a kameng backup", path=str(path)))
        if manifest["backend"] != url.get_backend_name():
            raise InvalidInput(_l("this backup is of a %(backend)s database",
                                  backend=manifest["backend"]))
        # the ring first: a restored row must never meet a process without its key
        _install_ring(work / "instance", instance)
        db.session.remove()
        db.engine.dispose()
        if manifest["backend"] == "postgresql":
            _pg_restore(url, work / manifest["database"])
        else:
            _sqlite_copy(work / manifest["database"], Path(url.database))
        db.engine.dispose()
        if (work / "media").is_dir():
            shutil.copytree(work / "media", media_root(), dirs_exist_ok=True)
    crypto.reload_now()
    return manifest


def _install_ring(source: Path, instance: Path) -> None:
    instance.mkdir(parents=True, exist_ok=True)
    for name in ("code_keys", "code_fingerprint_key", "secret_key"):
        src = source / name
        if not src.exists():
            continue
        dst = instance / name
        if dst.exists():
            keyfile.write_secret(dst.with_name(name + ".before-restore"), dst.read_text())
        keyfile.write_secret(dst, src.read_text())
    # refuse now (not at the next start) a ring KAMENG_CODE_KEYS contradicts
    keyfile.effective(instance, current_app.config.get("CODE_KEYS_CONFIGURED"),
                      current_app.config.get("CODE_FINGERPRINT_KEY_CONFIGURED"), create=False)


def _pg_restore(url: sa.URL, dump: Path) -> None:
    exe = shutil.which("pg_restore")
    if exe is None:
        raise Conflict(_l("pg_restore is not on PATH: install the PostgreSQL client tools"))
    dsn, env = _libpq(url)
    result = subprocess.run(
        [exe, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
         "--dbname", dsn, str(dump)], env=env, capture_output=True, text=True)
    if result.returncode:
        raise Conflict(_l("pg_restore failed: %(error)s", error=result.stderr.strip()[-500:]))
