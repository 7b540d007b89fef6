"""Service error messages speak the locale of where they are shown: the request's
(page, API problem detail), or the default locale outside a request (the CLI)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kameng.core.errors import Conflict
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.scoping import tenant_scope
from kameng.sales.models import Order
from kameng.tenants import services as tenants
from tests.api.helpers import api_account, order
from tests.helpers import login
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import checkout, enable_balance

ZH_OUT_OF_STOCK = "库存不足：需要 2 件，仅剩 1 件"
EN_OUT_OF_STOCK = "out of stock: 2 wanted, 1 available"


def _orders() -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


def _balance_buyer(tree, client_for, product_codes=1):
    product = card_product(codes=product_codes)
    enable_balance(tree.star)
    fund(tree.star_customer, 10_000)
    client = client_for("star.localhost")
    login(client, tree.star_customer.email)
    return product, client


def test_a_zh_cn_checkout_beyond_the_stock_shows_the_chinese_message(app, tree, client_for):
    assert tree.star.locale == "zh_CN"
    product, client = _balance_buyer(tree, client_for)
    resp = checkout(client, product.sku, "balance", quantity=2)
    assert resp.status_code == 409
    assert ZH_OUT_OF_STOCK in resp.text and EN_OUT_OF_STOCK not in resp.text
    assert _orders() == 0


def test_an_english_checkout_beyond_the_stock_shows_the_english_message(app, tree,
                                                                        client_for):
    product, client = _balance_buyer(tree, client_for)
    client.get("/lang/en")  # the visitor's choice beats the shop's locale
    resp = checkout(client, product.sku, "balance", quantity=2)
    assert resp.status_code == 409
    assert EN_OUT_OF_STOCK in resp.text and ZH_OUT_OF_STOCK not in resp.text


def test_the_api_problem_detail_speaks_the_shops_locale(app, tree, client_for):
    card_product("GAME-100", codes=1)
    _user, key = api_account(tree.star, "bot@star.test", funds=10_000)
    resp = order(client_for("star.localhost"), key, "GAME-100", "oos-zh", quantity=2)
    assert resp.status_code == 409 and resp.json["code"] == "out_of_stock"
    assert resp.json["title"] == ZH_OUT_OF_STOCK

    english = tenants.create_tenant("sun", "Sun Cards", "master", locale="en")
    with tenant_scope(english.id):
        card_product("SUN-1", codes=1)
    _user, key = api_account(english, "bot@sun.test", funds=10_000)
    resp = order(client_for("sun.localhost"), key, "SUN-1", "oos-en", quantity=2)
    assert resp.status_code == 409 and resp.json["code"] == "out_of_stock"
    assert resp.json["title"] == EN_OUT_OF_STOCK


def _out_of_stock_message() -> str:
    err = Conflict(_l("out of stock: %(quantity)s wanted, %(got)s available", quantity=2, got=1))
    assert isinstance(err.message, str) and str(err) == err.message
    return err.message


def test_outside_a_request_the_message_is_in_the_default_locale(app, tree):
    assert _out_of_stock_message() == EN_OUT_OF_STOCK   # the tests' default: en


@pytest.mark.app_config(BABEL_DEFAULT_LOCALE="zh_CN")
def test_outside_a_request_a_chinese_default_locale_gives_chinese(app, tree):
    assert _out_of_stock_message() == ZH_OUT_OF_STOCK
