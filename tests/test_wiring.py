"""Explicit wiring: importing a module installs nothing; ``create_app`` installs it all, once.

Plus the one after-commit hook (``kameng.core.txn``).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kameng.core import txn
from kameng.core.extensions import db

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.smoke

# every session listener kameng has, as "module:function event"
LISTENERS = {
    "kameng.core.scoping:_apply_tenant_criteria do_orm_execute",
    "kameng.core.hotrows:_apply before_commit",
    "kameng.core.hotrows:_forget after_rollback",
    "kameng.core.txn:_run after_commit",
    "kameng.core.txn:_drop after_rollback",
    "kameng.tenants.hostcache:_note_changes after_flush",
    "kameng.tenants.api_keys:_note_flush before_flush",
    "kameng.tenants.api_keys:_note_statement do_orm_execute",
    "kameng.shop.pricing.events:_collect after_flush",
    "kameng.shop.pricing.events:_bulk do_orm_execute",
    "kameng.shop.storefront.events:_collect after_flush",
    "kameng.shop.storefront.events:_bulk do_orm_execute",
    "kameng.billing.commissions.settings:_forget_settings after_transaction_end",
    "kameng.billing.plans.guard:_check_plan_limits before_flush",
    "kameng.core.audit:_after_commit after_commit",
    "kameng.core.audit:_after_rollback after_rollback",
}

PROBE = textwrap.dedent('''
    import importlib, json, os, pkgutil, sys, tempfile

    import blinker
    import flask
    import sqlalchemy.event.registry as registry

    import kameng

    def listeners():
        found = []
        for key, collections in registry._key_to_collection.items():
            for ref in collections.values():
                fn = ref()
                module = getattr(fn, "__module__", None) or ""
                if module.startswith("kameng"):
                    found.append(f"{module}:{fn.__name__} {key[1]}")
        return sorted(found)

    def kameng_objects(kind):
        seen = {}
        for name, module in list(sys.modules.items()):
            if name.startswith("kameng"):
                for value in list(vars(module).values()):
                    if isinstance(value, kind):
                        seen[id(value)] = value
        return list(seen.values())

    def receivers():
        return sorted(f"{sig.name}" for sig in kameng_objects(blinker.Signal)
                      if sig.receivers)

    def routes(bp):
        return len(bp.deferred_functions)

    names, errors = [], []
    for info in pkgutil.walk_packages(kameng.__path__, "kameng.",
                                      onerror=lambda name: errors.append(name)):
        names.append(info.name)
    counts, changed = {}, []
    for name in sorted(names):
        importlib.import_module(name)
        for bp in kameng_objects(flask.Blueprint):
            before = counts.setdefault(bp.name, routes(bp))
            if routes(bp) != before:
                changed.append(f"{bp.name} after importing {name}")
    out = {"modules": len(names), "errors": errors, "listeners": listeners(),
           "receivers": receivers(), "blueprints": sorted(counts), "changed": changed,
           "registered": sorted(bp.name for bp in kameng_objects(flask.Blueprint)
                                if bp._got_registered_once)}
    from kameng.webapp import create_app

    apps = [create_app({"INSTANCE_PATH": tempfile.mkdtemp(),
                        "DATABASE_URL": "sqlite://"}) for _ in range(2)]
    out["after_listeners"] = listeners()
    out["after_receivers"] = receivers()
    from sqlalchemy.orm import Session

    session = Session()
    out["dispatch"] = sorted(
        f"{fn.__module__}:{fn.__name__} {event}"
        for event in ("do_orm_execute", "before_commit", "after_commit", "after_rollback",
                      "after_flush", "before_flush", "after_transaction_end")
        for fn in getattr(session.dispatch, event)
        if (getattr(fn, "__module__", None) or "").startswith("kameng"))
    from kameng.core.events import user_signed_up

    out["signup_receivers"] = len(user_signed_up.receivers)
    out["admin_rules"] = [len([r for r in a.url_map.iter_rules()
                               if r.endpoint.startswith("admin.")]) for a in apps]
    print(json.dumps(out))
''')


@pytest.fixture(scope="module")
def probe():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_every_module_installs_no_listener(probe):
    assert probe["modules"] > 100 and not probe["errors"]
    assert probe["listeners"] == []


def test_importing_every_module_connects_no_receiver(probe):
    assert probe["receivers"] == []


def test_importing_a_module_adds_no_route_to_another_modules_blueprint(probe):
    assert probe["changed"] == []
    assert probe["registered"] == []
    # the back office's blueprint is built by admin's init_app, not at import
    assert "admin" not in probe["blueprints"]
    assert {"auth", "shop", "billing", "payments", "orders", "api"} <= set(probe["blueprints"])


def test_create_app_installs_every_listener_and_receiver(probe):
    # (and, per SQLite engine, the engine set-up of kameng.core.database)
    assert set(probe["after_listeners"]) == LISTENERS | {
        "kameng.core.database:_sqlite_connect connect",
        "kameng.core.database:_sqlite_begin begin"}
    assert probe["after_receivers"] == ["kameng.user-signed-up"]


def test_a_second_app_installs_nothing_twice(probe):
    # each listener runs once per event however many apps the process created
    assert sorted(probe["dispatch"]) == sorted(LISTENERS)
    assert probe["signup_receivers"] == 1
    assert probe["admin_rules"][0] == probe["admin_rules"][1] > 40


# ----- the after-commit hook ----------------------------------------------------------

def _probe_txn():
    """A statement that opens the transaction, as any service's first query does."""
    from sqlalchemy import text

    db.session.execute(text("SELECT 1"))


@pytest.mark.both
def test_after_commit_runs_once_the_transaction_commits(app):
    ran = []
    _probe_txn()
    txn.after_commit(lambda: ran.append("a"))
    txn.after_commit(lambda: ran.append("b"))
    db.session.flush()
    assert ran == []
    db.session.commit()
    assert ran == ["a", "b"]
    db.session.commit()
    assert ran == ["a", "b"]


@pytest.mark.both
def test_after_commit_begins_a_transaction_when_none_is_open(app):
    ran = []
    db.session.commit()
    txn.after_commit(lambda: ran.append(1))
    assert ran == []
    db.session.commit()
    assert ran == [1]


@pytest.mark.both
@pytest.mark.parametrize("end", ["rollback", "close"])
def test_a_rollback_or_a_closed_session_drops_the_callbacks(app, end):
    ran = []
    _probe_txn()
    txn.after_commit(lambda: ran.append(1))
    if end == "rollback":
        db.session.rollback()
    else:
        db.session.close()
        _probe_txn()
    db.session.commit()
    assert ran == []


@pytest.mark.both
def test_savepoints_keep_or_drop_only_their_own_callbacks(app):
    ran = []
    _probe_txn()
    txn.after_commit(lambda: ran.append("outer"))
    with db.session.begin_nested():
        txn.after_commit(lambda: ran.append("released"))
    assert ran == []  # a released savepoint is not the commit
    savepoint = db.session.begin_nested()
    txn.after_commit(lambda: ran.append("rolled back"))
    savepoint.rollback()
    db.session.commit()
    assert ran == ["outer", "released"]


@pytest.mark.both
def test_a_key_registers_work_once_per_transaction(app):
    ran = []

    class Collect(list):
        def __call__(self):
            ran.append(sorted(self))

    _probe_txn()
    txn.after_commit(Collect(), key="k").append(1)
    txn.after_commit(Collect(), key="k").append(2)
    db.session.commit()
    assert ran == [[1, 2]]
