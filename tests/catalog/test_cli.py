"""``kameng products …``: the contract operators' scripts rely on."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from kameng.core.extensions import db
from kameng.shop.catalog.models import Category, Product

pytestmark = pytest.mark.both

CREATE = ("products", "create", "--sku", "STEAM-100", "--name", "Steam 100", "--kind", "card",
          "--cost", "8.00", "--wholesale", "10.00", "--retail", "12.00")


def test_create_parses_major_units_and_creates_the_category(app, cli, tree):
    result = cli(*CREATE, "--category", "游戏点卡")
    assert result.exit_code == 0, result.output
    product = db.session.scalar(select(Product))
    assert (product.sku, product.kind, product.supplier_cost, product.wholesale_price,
            product.retail_price, product.currency) == ("STEAM-100", "card", 800, 1000, 1200, "CNY")
    assert product.category.name == "游戏点卡"
    result = cli("products", "create", "--sku", "STEAM-200", "--name", "Steam 200", "--kind",
                 "card", "--cost", "16", "--wholesale", "20", "--retail", "24",
                 "--category", "游戏点卡")
    assert result.exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(Category)) == 1


@pytest.mark.parametrize("change, message", [
    (("--cost", "8.001"), "more than 2 decimal places"),
    (("--wholesale", "ten"), "not an amount"),
    (("--retail", "-1"), "negative"),
    (("--kind", "gift"), "--kind must be one of"),
    (("--sku", "bad sku!"), "SKU"),
])
def test_bad_input_exits_non_zero_and_writes_nothing(app, cli, change, message):
    args = list(CREATE) + ["--category", "新分类"]
    flag = change[0]
    args[args.index(flag) + 1] = change[1]
    result = cli(*args)
    assert result.exit_code != 0
    assert result.stderr.startswith("Error:") and message in result.stderr
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0
    assert db.session.scalar(select(func.count()).select_from(Category)) == 0


def test_duplicate_sku_is_refused(app, cli):
    assert cli(*CREATE).exit_code == 0
    result = cli(*CREATE, "--category", "another")
    assert result.exit_code != 0 and "already exists" in result.stderr
    assert db.session.scalar(select(func.count()).select_from(Product)) == 1
    assert db.session.scalar(select(func.count()).select_from(Category)) == 0


def test_list_json(app, cli):
    cli(*CREATE)
    rows = json.loads(cli("products", "list", "--json").stdout)
    assert rows[0]["sku"] == "STEAM-100" and rows[0]["retail"] == 1200 and rows[0]["stock"] == 0
    assert "STEAM-100" in cli("products", "list").stdout
