"""The per-process API key cache: a key is looked up once, and revoking it (or blocking
its account) takes effect on every process sharing the Redis within a second."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import event, text

from kameng.core.extensions import db
from kameng.tenants import api_keys
from kameng.tenants.api_keys import revoke_key
from kameng.tenants.customers import set_blocked_in_txn
from tests.api.helpers import api_account, auth
from tests.conftest import host_client

pytestmark = pytest.mark.both

STAR = "star.localhost"


def _settled() -> None:
    # every process reads the generation at most this often: then it has seen the bump
    time.sleep(api_keys.GENERATION_EVERY + 0.1)


def test_a_revoked_key_is_refused_by_every_process_within_a_second(app, tree, client_for,
                                                                   second_app):
    user, key = api_account(tree.star, "bot@star.test", funds=500)
    one, two = client_for(STAR), host_client(second_app, STAR)
    for client in (one, two, one, two):   # looked up, then answered from each cache
        assert client.get("/api/v1/balance", headers=auth(key)).status_code == 200

    revoke_key(user, api_keys.list_keys(user)[0].id)   # through the first instance
    _settled()
    assert one.get("/api/v1/balance", headers=auth(key)).status_code == 401
    assert two.get("/api/v1/balance", headers=auth(key)).status_code == 401


def test_a_blocked_account_is_refused_by_every_process_within_a_second(app, tree,
                                                                       client_for,
                                                                       second_app):
    user, key = api_account(tree.star, "bot@star.test", funds=500)
    two = host_client(second_app, STAR)
    assert two.get("/api/v1/balance", headers=auth(key)).status_code == 200
    set_blocked_in_txn(tree.star, tree.star_owner, user.id, True)
    db.session.commit()
    _settled()
    assert two.get("/api/v1/balance", headers=auth(key)).status_code == 401


def test_the_key_is_answered_from_the_cache_until_the_generation_moves(app, tree,
                                                                       client_for):
    _user, key = api_account(tree.star, "bot@star.test", funds=500)
    client = client_for(STAR)
    assert client.get("/api/v1/balance", headers=auth(key)).status_code == 200
    # behind the platform's back (no bump): the cache does not see it …
    db.session.execute(text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP"))
    db.session.commit()
    assert client.get("/api/v1/balance", headers=auth(key)).status_code == 200
    # … until any change is announced
    api_keys.bump()
    _settled()
    assert client.get("/api/v1/balance", headers=auth(key)).status_code == 401


def test_without_redis_every_request_asks_the_database(app, tree, client_for, monkeypatch):
    user, key = api_account(tree.star, "bot@star.test", funds=500)
    client = client_for(STAR)

    # the counter cannot be read (Redis down for it): nothing is cached
    monkeypatch.setattr(api_keys._KeyCache, "generation", lambda _self: None)
    assert client.get("/api/v1/balance", headers=auth(key)).status_code == 200
    revoke_key(user, api_keys.list_keys(user)[0].id)
    assert client.get("/api/v1/balance", headers=auth(key)).status_code == 401


def test_a_keys_first_request_notes_its_use_and_reads_nothing_again(app, tree, client_for):
    user, key = api_account(tree.star, "bot@star.test", funds=500)
    client = client_for(STAR)
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()).lower())

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        assert client.get("/api/v1/balance", headers=auth(key)).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    touch = next(i for i, sql in enumerate(seen) if sql.startswith("update api_keys"))
    # committed without expiring what the request had read: the shop, the key and the
    # account are not read again after it
    again = [sql for sql in seen[touch + 1:] if sql.startswith("select")
             and any(f"from {t} " in sql + " " for t in ("tenants", "api_keys", "users"))]
    assert again == []
    db.session.expire_all()
    assert api_keys.list_keys(user)[0].last_used_at is not None
