"""``kameng keys rotate``: a new encrypting key, every stored code and secret moved to it
by a resumable background job, the old key retired only once nothing uses it."""
from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import func, select

from kameng.core import keyfile
from kameng.core.crypto import keyring
from kameng.core.extensions import db
from kameng.ops import rotation
from kameng.ops.models import KeyRotation
from kameng.shop.stock.models import CardCode
from tests.ops.seed import everything_decrypts, seed
from tests.orders.web_helpers import run_jobs


def _kids() -> dict[str, int]:
    return rotation.key_ids_in_use()


@pytest.mark.both
def test_rotate_moves_every_ciphertext_and_retire_waits_for_it(app, cli, client_for):
    seeded = seed(app, client_for)
    before = everything_decrypts(seeded)
    fingerprint = keyring().fingerprint("SOME-CODE")
    assert set(_kids()) == {"k1"}

    result = cli("keys", "rotate", "--settle", "0")
    assert result.exit_code == 0, result.output + str(result.stderr)
    assert "new encrypting key k2" in result.output
    path = keyfile.ring_path(app.config["INSTANCE_PATH"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keyring().primary_id == "k2" and keyring().key_ids == ["k2", "k1"]
    # refused while rows still need k1, with the count
    refused = cli("keys", "retire", "k1")
    assert refused.exit_code != 0 and "still use key k1" in refused.stderr

    run_jobs(app, "imports")
    db.session.expire_all()
    done = db.session.scalar(select(KeyRotation))
    assert done.status == "done" and done.remaining == 0, (done.status, done.error)
    assert set(_kids()) == {"k2"}
    assert everything_decrypts(seeded) == before
    status = cli("keys", "status")
    assert "rotation 1 to k2: done" in status.output and "card_codes:" in status.output

    retired = cli("keys", "retire", "k1")
    assert retired.exit_code == 0, retired.stderr
    assert keyring().key_ids == ["k2"]
    # fingerprints (import de-duplication) did not move though the oldest key is gone
    assert keyring().fingerprint("SOME-CODE") == fingerprint
    assert everything_decrypts(seeded) == before
    assert cli("keys", "retire", "k2").exit_code != 0  # the encrypting key


def test_a_crashed_rotation_resumes_after_its_last_batch(app, cli, client_for):
    seed(app, client_for)
    total = db.session.scalar(select(func.count()).select_from(CardCode))
    assert cli("keys", "rotate", "--no-reencrypt", "--settle", "0").exit_code == 0
    rot = db.session.scalar(select(KeyRotation))
    db.session.commit()

    # the job dies after its third batch of 10 (as a killed worker would)
    calls = {"n": 0}
    original = rotation.BinaryStore.write

    def dying(self, conn, changes):
        calls["n"] += 1
        if calls["n"] > 3:
            raise SystemExit("killed")
        return original(self, conn, changes)

    rotation.BinaryStore.write = dying
    try:
        with pytest.raises(SystemExit):
            rotation.run_rotation(rot.id, batch=10)
    finally:
        rotation.BinaryStore.write = original
    db.session.expire_all()
    progress = db.session.get(KeyRotation, rot.id).progress
    assert progress["card_codes"]["moved"] == 30 and progress["card_codes"]["last_id"] > 0
    assert db.session.scalar(select(func.count()).select_from(CardCode)
                             .where(CardCode.key_id == "k2")) == 30
    db.session.commit()

    assert cli("keys", "reencrypt").exit_code == 0  # resumes the same rotation
    starts = []
    read = rotation.BinaryStore.read

    def noting(self, conn, after, primary, limit):
        starts.append((self.name, after))
        return read(self, conn, after, primary, limit)

    rotation.BinaryStore.read = noting
    try:
        run_jobs(app, "imports")
    finally:
        rotation.BinaryStore.read = read
    assert starts[0] == ("card_codes", progress["card_codes"]["last_id"])
    db.session.expire_all()
    rot = db.session.get(KeyRotation, rot.id)
    assert rot.status == "done" and rot.progress["card_codes"]["moved"] == total
    assert set(_kids()) == {"k2"}


def test_rows_written_under_the_old_key_meanwhile_get_another_pass(app, cli, client_for):
    from kameng.core.crypto import KeyRing

    seed(app, client_for)
    old_ring = KeyRing(app.config["CODE_KEYS"])
    assert cli("keys", "rotate", "--no-reencrypt", "--settle", "0").exit_code == 0
    rot = db.session.scalar(select(KeyRotation))
    # a process that had not re-read the ring yet writes a code under k1 behind the walk
    first = db.session.scalar(select(CardCode).order_by(CardCode.id).limit(1))
    from kameng.shop.stock.allocation import code_aad

    calls = {"n": 0}
    original = rotation._walk

    def walk_then_write_old(store, *args, **kwargs):
        original(store, *args, **kwargs)
        if store.name == "card_codes" and not calls["n"]:
            calls["n"] += 1
            kid, blob = old_ring.encrypt("LATE-CODE", code_aad(first.product_id))
            db.session.execute(CardCode.__table__.update().where(CardCode.id == first.id)
                               .values(key_id=kid, secret_ciphertext=blob))
            db.session.commit()

    rotation._walk = walk_then_write_old
    try:
        result = rotation.run_rotation(rot.id)
    finally:
        rotation._walk = original
    db.session.expire_all()
    rot = db.session.get(KeyRotation, rot.id)
    assert result["status"] == "done" and rot.passes == 2 and rot.remaining == 0
    assert set(_kids()) == {"k2"}


def test_kameng_code_keys_still_works_and_extends_the_file(app, tmp_path):
    from kameng.core.config import load_config
    from kameng.core.crypto import new_key

    instance = tmp_path / "elsewhere"
    k1 = new_key()
    cfg = load_config({"INSTANCE_PATH": str(instance), "CODE_KEYS": f"k1:{k1}"})
    assert cfg["CODE_KEYS"] == f"k1:{k1}" and not keyfile.ring_path(instance).exists()
    keyfile.write_entries(keyfile.ring_path(instance), [("k2", new_key()), ("k1", k1)])
    k0 = new_key()
    cfg = load_config({"INSTANCE_PATH": str(instance), "CODE_KEYS": f"k1:{k1},k0:{k0}"})
    assert [e.split(":")[0] for e in cfg["CODE_KEYS"].split(",")] == ["k2", "k1", "k0"]
    with pytest.raises(Exception, match="differs"):
        load_config({"INSTANCE_PATH": str(instance), "CODE_KEYS": f"k1:{new_key()}"})
    # the one-line form older releases wrote reads the same
    (instance / "code_keys").write_text(f"k1:{k1}")
    assert load_config({"INSTANCE_PATH": str(instance)})["CODE_KEYS"] == f"k1:{k1}"


def test_a_row_no_key_opens_stops_the_job_until_the_operator_resumes(app, cli, client_for):
    from kameng.core.crypto import CryptoError

    seed(app, client_for)
    assert cli("keys", "rotate", "--no-reencrypt", "--settle", "0").exit_code == 0
    rot = db.session.scalar(select(KeyRotation))
    last = db.session.scalar(select(CardCode).order_by(CardCode.id.desc()).limit(1))
    good = bytes(last.secret_ciphertext)
    db.session.execute(CardCode.__table__.update().where(CardCode.id == last.id)
                       .values(secret_ciphertext=b"\0" * 40))
    db.session.commit()
    with pytest.raises(CryptoError):
        rotation.run_rotation(rot.id)
    db.session.expire_all()
    assert "does not decrypt" in db.session.get(KeyRotation, rot.id).error
    assert rotation.resume_rotations() == 0  # the scheduler does not retry it blindly
    assert "does not decrypt" in cli("keys", "status").output
    db.session.execute(CardCode.__table__.update().where(CardCode.id == last.id)
                       .values(secret_ciphertext=good))
    db.session.commit()
    assert cli("keys", "reencrypt").exit_code == 0
    run_jobs(app, "imports")
    db.session.expire_all()
    rot = db.session.get(KeyRotation, rot.id)
    assert rot.status == "done" and rot.error is None
    assert set(_kids()) == {"k2"}


def test_another_process_picks_the_new_key_up_without_a_restart(app, cli, redis_url):
    import time

    from kameng.core import crypto
    from kameng.webapp import create_app

    # a second process on the same instance folder (another web or worker process)
    other = create_app({"TESTING": True, "INSTANCE_PATH": app.config["INSTANCE_PATH"],
                        "DATABASE_URL": app.config["DATABASE_URL"], "REDIS_URL": redis_url,
                        "SECRET_KEY": "x"})
    assert crypto.keyring(other).primary_id == "k1"
    assert cli("keys", "rotate", "--no-reencrypt").exit_code == 0
    time.sleep(crypto.RELOAD_SECONDS + 0.1)  # it looks at the file this often
    ring = crypto.keyring(other)
    assert ring.primary_id == "k2" and ring.key_ids == ["k2", "k1"]
    # a ring file that does not parse is ignored: the process keeps the ring it has
    keyfile.ring_path(app.config["INSTANCE_PATH"]).write_text("k3:not base64!\n")
    time.sleep(crypto.RELOAD_SECONDS + 0.1)
    assert crypto.keyring(other).primary_id == "k2"


# every module that encrypts with the ring, and the tables key rotation walks for it
SEALING_MODULES = {
    "platform/shop/stock/services.py": "card_codes",
    "platform/sales/delivery.py": "order_lines",
    "platform/shop/suppliers/secretbox.py": "suppliers",
    "platform/tenants/twofactor.py": "users",
    "platform/billing/payments/secrets.py": "payment_method_configs",
}


def test_every_module_that_encrypts_has_a_store_the_rotation_walks(app):
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"\bcrypto\.seal\(|\.encrypt\(|\.sealer\(")
    found = {str(p.relative_to(root)) for top in ("platform", "workers")
             for p in (root / top).rglob("*.py")
             if pattern.search(p.read_text(encoding="utf-8"))
             # the ring itself, the rotation, and the doctor's probe (stores nothing)
             and not str(p).endswith(("core/crypto.py", "ops/rotation.py", "ops/doctor.py"))}
    unknown = found - set(SEALING_MODULES)
    assert not unknown, f"{unknown} encrypt with the key ring: add a store for what they " \
                        "write to kameng.ops.rotation.stores() and list them here"
    assert set(SEALING_MODULES.values()) == {s.name for s in rotation.stores()}
