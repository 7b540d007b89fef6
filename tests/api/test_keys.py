"""API keys: stored hashed, shown once, revocable; the CLI flag; the key pages."""
from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select, text

from kameng.core.extensions import db
from kameng.tenants.api_keys import authenticate, create_key, list_keys
from kameng.tenants.models import ApiKey
from tests.api.helpers import api_account, auth
from tests.helpers import login
from tests.orders.helpers import fund

pytestmark = pytest.mark.both

KEY_RE = re.compile(r"km_[A-Za-z0-9_-]{40,}")


def _database_text() -> str:
    """Every row of every table, as text."""
    dump = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(text(f'SELECT * FROM "{table.name}"')):
            dump.append(repr(tuple(row)))
    return "\n".join(dump)


def test_keys_are_stored_as_hashes_only(app, tree):
    made = create_key(tree.star_customer, "sync script")
    row = db.session.scalar(select(ApiKey).where(ApiKey.id == made.key.id))
    assert row.key_hash == hashlib.sha256(made.plaintext.encode()).hexdigest()
    assert made.plaintext.startswith(row.prefix) and len(row.prefix) < len(made.plaintext) / 3
    assert made.plaintext not in _database_text()
    assert authenticate(tree.star, made.plaintext)[1].id == tree.star_customer.id
    assert authenticate(tree.rocket, made.plaintext) is None


def test_users_create_with_api_key_prints_a_working_key_last(app, tree, cli, client_for):
    result = cli("users", "create", "--tenant", "star", "--email", "bot@star.test",
                 "--role", "customer", "--api-key")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    key = lines[-1]
    assert KEY_RE.fullmatch(key) and key not in "\n".join(lines[:-1])
    assert key not in _database_text()
    from kameng.billing.wallets import find_user

    fund(find_user(tree.star, "bot@star.test"), 500)
    resp = client_for("star.localhost").get("/api/v1/balance", headers=auth(key))
    assert resp.status_code == 200 and resp.json["balance"] == 500


def test_users_create_with_api_key_writes_nothing_on_bad_input(app, tree, cli):
    result = cli("users", "create", "--tenant", "star", "--email", "buyer@star.test",
                 "--role", "customer", "--api-key")   # the e-mail is taken
    assert result.exit_code != 0 and "Error" in result.output + (result.stderr or "")
    assert db.session.scalar(select(ApiKey.id)) is None


def test_customer_page_shows_a_new_key_once_and_revokes(app, tree, client_for):
    client = client_for("star.localhost")
    assert client.get("/account/api-keys").status_code == 302   # login first
    login(client, "buyer@star.test")
    made = client.post("/account/api-keys", data={"name": "my <script>"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    page = made.get_data(as_text=True)
    key = KEY_RE.search(page).group(0)
    assert "my &lt;script&gt;" in page and "<script>" not in page
    assert client.get("/api/v1/balance", headers=auth(key)).status_code == 200
    again = client.get("/account/api-keys").get_data(as_text=True)
    assert key not in again and key[:11] in again    # only the prefix, ever after

    row = list_keys(tree.star_customer)[0]
    client.post(f"/account/api-keys/{row.id}/revoke")
    assert client.get("/api/v1/balance", headers=auth(key)).status_code == 401


def test_nobody_revokes_someone_elses_key(app, tree, client_for):
    _bot, bot_key = api_account(tree.star, "bot@star.test")
    bot_row = db.session.scalar(select(ApiKey))
    client = client_for("star.localhost")
    login(client, "buyer@star.test")
    assert client.post(f"/account/api-keys/{bot_row.id}/revoke").status_code == 404
    owner = client_for("star.localhost")
    login(owner, "owner@star.test")
    assert owner.post(f"/admin/api-keys/{bot_row.id}/revoke").status_code == 404
    assert client.get("/api/v1/balance", headers=auth(bot_key)).status_code == 200


def test_back_office_keys_page_for_staff(app, tree, client_for):
    owner = client_for("star.localhost")
    login(owner, "owner@star.test")
    page = owner.post("/admin/api-keys", data={"name": "reseller sync"})
    assert page.status_code == 200
    key = KEY_RE.search(page.get_data(as_text=True)).group(0)
    assert owner.get("/api/v1/balance", headers=auth(key)).status_code == 200
    listing = owner.get("/admin/api-keys").get_data(as_text=True)
    assert "reseller sync" in listing and key not in listing
    assert owner.post("/admin/api-keys", data={"name": "x" * 81}).status_code == 422

    customer = client_for("star.localhost")
    login(customer, "buyer@star.test")
    assert customer.get("/admin/api-keys").status_code == 403
