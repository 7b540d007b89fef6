"""``kameng suppliers …`` against the fake supplier."""
from __future__ import annotations

import json

from kameng.core.extensions import db
from kameng.shop.catalog.models import Product
from tests.fakes.supplier import fake_supplier  # noqa: F401  (fixture)


def test_create_test_sync_and_margins(app, cli, fake_supplier, monkeypatch):  # noqa: F811
    monkeypatch.setenv("FAKE_SECRET", fake_supplier.secret)
    result = cli("suppliers", "create", "--name", "Fake", "--base-url", fake_supplier.url,
                 "--key-id", fake_supplier.key_id, "--secret-env", "FAKE_SECRET",
                 "--read-timeout", "0.5")
    assert result.exit_code == 0, result.output
    listed = cli("suppliers", "list", "--json")
    assert fake_supplier.secret not in listed.output
    assert json.loads(listed.output)[0]["has_secret"] is True
    assert cli("suppliers", "test", "Fake").output.strip() == "Fake: balance 1000000"
    assert "synced 4, new 4" in cli("suppliers", "sync", "Fake").output
    db.session.add(Product(sku="OWN", kind="card", name="Own", supplier_cost=80,
                           wholesale_price=100, retail_price=120))
    db.session.commit()
    rows = json.loads(cli("suppliers", "margins", "--json").output)
    assert rows == [{"sku": "OWN", "supplier": None, "supplier_sku": None, "currency": "CNY",
                     "supplier_cost": 80, "wholesale": 100, "margin": 20,
                     "upstream_price": None}]


def test_errors_are_one_line_and_non_zero(app, cli, fake_supplier):  # noqa: F811
    result = cli("suppliers", "create", "--name", "Bad", "--base-url", "nope",
                 "--key-id", "k", input="s3cret\n")
    assert result.exit_code != 0 and "base URL must be" in result.output + str(result.stderr)
    fake_supplier.mode = "down"
    fake_supplier.create_supplier("Down")
    result = cli("suppliers", "test", "Down")
    assert result.exit_code != 0 and "503" in (result.stderr or result.output)
    assert cli("suppliers", "test", "Nobody").exit_code != 0
