"""``kameng backup`` / ``kameng restore``: back up a seeded database, wipe it, restore it
into an empty one: every code still decrypts and the ledger checks."""
from __future__ import annotations

import os
import shutil
import stat
import tarfile

import pytest

from kameng.core.extensions import db
from tests.ops.seed import everything_decrypts, seed


def _cli(application, *args):
    from kameng.cli import cli as kameng_cli

    return application.test_cli_runner().invoke(kameng_cli, [str(a) for a in args])


@pytest.mark.both
@pytest.mark.usefixtures("no_alembic_version")
def test_backup_wipe_restore(request, backend, app, cli, client_for, tmp_path, redis_url):
    if backend == "postgresql" and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore are not on PATH (install postgresql-client)")
    from flask_migrate import upgrade

    from kameng.webapp import create_app

    seeded = seed(app, client_for)
    counts = everything_decrypts(seeded)
    # a rotated ring: the backup must carry both keys and the pinned fingerprint key
    assert cli("keys", "rotate", "--no-reencrypt", "--settle", "0").exit_code == 0
    media = tmp_path / "instance" / "media" / "1"
    media.mkdir(parents=True)
    (media / ("a" * 32 + ".webp")).write_bytes(b"RIFF-image")
    # the fixture made the schema from the models: record it at head, as a migrated one
    from flask_migrate import stamp

    db.session.commit()
    stamp(directory=app.extensions["migrate"].directory, revision="head")
    path = tmp_path / "kameng.backup"
    result = cli("backup", path)
    assert result.exit_code == 0, result.output + str(result.stderr)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with tarfile.open(path) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "instance/code_keys", "instance/code_fingerprint_key"} <= names
    assert any(n.endswith(".webp") for n in names)

    # wipe: a new empty database and a new instance folder (whose first start made a
    # ring of its own, which the restore puts aside)
    if backend == "postgresql":
        url = request.getfixturevalue("pg").new_database("restored")
    else:
        url = f"sqlite:///{tmp_path / 'restored.db'}"
    target = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "new-instance"),
                         "DATABASE_URL": url, "REDIS_URL": redis_url, "SECRET_KEY": "x",
                         "BABEL_DEFAULT_LOCALE": "en"})
    with target.app_context():
        result = _cli(target, "restore", path)
        assert result.exit_code == 0, result.output
        assert (tmp_path / "new-instance" / "code_keys.before-restore").exists()
        assert (tmp_path / "new-instance" / "media" / "1" / ("a" * 32 + ".webp")).exists()
        upgrade(directory=target.extensions["migrate"].directory)  # already at head: no-op
        assert everything_decrypts(seeded) == counts
        check = _cli(target, "ledger", "check")
        assert check.exit_code == 0 and "ledger ok" in check.output, check.output
        # restore refuses a database that is not empty
        again = _cli(target, "restore", path)
        assert again.exit_code != 0 and "not empty" in again.output
        db.session.remove()
        db.engine.dispose()
