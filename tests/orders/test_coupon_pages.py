"""Coupons through the pages and the API: the owner's back office (both languages, every
owner, staff 403, another shop 404), the checkout's coupon field, the API's ``coupon``."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from kameng.core.extensions import db
from kameng.sales import coupons
from kameng.sales.models import Coupon, Order
from kameng.shop.pricing import services as pricing
from kameng.tenants import services as tenants
from tests.api.helpers import api_account, assert_problem, auth
from tests.helpers import PASSWORD, login
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import checkout, enable_balance, order_no_from

pytestmark = pytest.mark.both

LANGS = ("en", "zh_CN")


@pytest.fixture
def shops(tree):
    pricing.set_markup(tree.star, kind="fixed", value=200)
    for t in (tree.master, tree.star, tree.rocket):
        tenants.create_user(t, f"staff@{t.slug}.test", "staff", PASSWORD)
    return tree


def _as(client_for, slug: str, role: str | None = "owner", lang: str = "en"):
    client = client_for(f"{slug}.localhost")
    client.get(f"/lang/{lang}")
    if role:
        login(client, f"{role}@{slug}.test")
    return client


def _coupon(code: str) -> Coupon:
    db.session.commit()
    return db.session.scalar(select(Coupon).where(Coupon.code == code)
                             .execution_options(all_tenants=True))


@pytest.mark.parametrize("lang", LANGS)
def test_owners_create_edit_and_disable_in_both_languages(shops, client_for, lang):
    product = card_product(codes=3)
    for slug in ("master", "star", "rocket"):
        owner = _as(client_for, slug, lang=lang)
        page = owner.get("/admin/coupons")
        assert page.status_code == 200 and 'name="code"' in page.text
        if lang == "zh_CN":
            assert "优惠券" in page.text and "全店" in page.text
        code = f"{slug.upper()}-{lang.upper()}"
        resp = owner.post("/admin/coupons", data={
            "code": code.lower(), "kind": "percent", "value": "12.5", "target": "shop",
            "starts_at": "2026-01-01 08:00", "ends_at": "", "max_uses": "5", "per_buyer": "1",
            "min_amount": "1.00"})
        assert resp.status_code == 302, resp.text
        coupon = _coupon(code)
        assert (coupon.value, coupon.max_uses, coupon.per_buyer, coupon.min_amount) == \
            (1250, 5, 1, 100)
        # entered in Asia/Shanghai, stored in UTC
        assert coupon.starts_at.isoformat().startswith("2026-01-01T00:00")
        listed = owner.get("/admin/coupons").text
        assert f'data-coupon="{code}"' in listed
        edit = owner.get(f"/admin/coupons/{coupon.id}")
        assert edit.status_code == 200 and 'value="2026-01-01 08:00"' in edit.text
        resp = owner.post(f"/admin/coupons/{coupon.id}", data={
            "code": code, "kind": "fixed", "value": "3", "target": f"product:{product.id}"})
        assert resp.status_code == 302
        coupon = _coupon(code)
        assert (coupon.kind, coupon.value, coupon.scope, coupon.max_uses) == \
            ("fixed", 300, "product", None)
        assert owner.post(f"/admin/coupons/{coupon.id}/disable").status_code == 302
        assert not _coupon(code).active
        assert owner.post(f"/admin/coupons/{coupon.id}/enable").status_code == 302
        assert _coupon(code).active
        # a bad form: the field's error in the page's language, nothing written
        bad = owner.post("/admin/coupons", data={"code": "X", "kind": "percent",
                                                 "value": "150", "target": "shop"})
        assert bad.status_code == 422 and _coupon("X") is None
        if lang == "zh_CN":
            assert "请修改标出的项目" in bad.text


def test_staff_get_403_and_another_shop_404(shops, client_for):
    coupon = coupons.create_coupon(shops.star, {"code": "STAR1", "kind": "percent",
                                                "value": "10"})
    for slug in ("master", "star", "rocket"):
        staff = _as(client_for, slug, "staff")
        assert staff.get("/admin/coupons").status_code == 403
        assert staff.post("/admin/coupons", data={"code": "S", "kind": "percent",
                                                  "value": "5"}).status_code == 403
    for slug in ("master", "rocket"):
        owner = _as(client_for, slug)
        assert owner.get(f"/admin/coupons/{coupon.id}").status_code == 404
        assert owner.post(f"/admin/coupons/{coupon.id}/disable").status_code == 404
        assert "STAR1" not in owner.get("/admin/coupons").text
    assert _coupon("STAR1").active


@pytest.mark.parametrize("lang", LANGS)
def test_checkout_applies_a_coupon_and_names_a_bad_one(shops, client_for, lang):
    product = card_product(codes=5)
    enable_balance(shops.star)
    fund(shops.star_customer, 100_00)
    coupons.create_coupon(shops.star, {"code": "HALF", "kind": "percent", "value": "50"})
    buyer = client_for("star.localhost")
    buyer.get(f"/lang/{lang}")
    login(buyer, "buyer@star.test")
    page = buyer.get(f"/checkout?sku={product.sku}")
    assert 'name="coupon"' in page.text
    bad = checkout(buyer, product.sku, "balance", coupon="NOPE")
    assert bad.status_code == 422 and 'id="error-coupon"' in bad.text
    assert ("优惠码无效" if lang == "zh_CN" else "unknown coupon code") in bad.text
    # the step that chooses how to pay already shows the discount (never below cost)
    step = checkout(buyer, product.sku, coupon="half")
    assert step.status_code == 200 and "data-discount" in step.text
    resp = checkout(buyer, product.sku, "balance", coupon="half")
    order_no = order_no_from(resp)
    order = db.session.scalar(select(Order).where(Order.order_no == order_no))
    assert (order.amount, order.discount, order.coupon_code) == (900, 200, "HALF")
    shown = buyer.get(f"/o/{order_no}").text
    assert "HALF" in shown and "data-discount" in shown
    owner = _as(client_for, "star", lang=lang)
    assert "data-discount" in owner.get(f"/admin/orders/{order_no}").text


def test_api_coupon(shops, client_for):
    product = card_product(codes=5)
    _user, key = api_account(shops.star, "api@star.test", funds=100_00)
    coupons.create_coupon(shops.star, {"code": "API5", "kind": "fixed", "value": "0.50",
                                       "max_uses": "1"})
    client = client_for("star.localhost")
    body = {"sku": product.sku, "coupon": "api5"}
    resp = client.post("/api/v1/orders", json=body, headers=auth(key, **{"Idempotency-Key": "1"}))
    assert resp.status_code == 201, resp.text
    assert (resp.json["amount"], resp.json["discount"], resp.json["coupon"]) == \
        (1050, 50, "API5")
    resp = client.post("/api/v1/orders", json=body, headers=auth(key, **{"Idempotency-Key": "2"}))
    assert_problem(resp, 422, "coupon_used_up", "coupon")
    resp = client.post("/api/v1/orders", json={**body, "coupon": 5},
                       headers=auth(key, **{"Idempotency-Key": "3"}))
    assert_problem(resp, 422, "invalid_field", "coupon")
    spec = client.get("/api/v1/openapi.json").json
    assert "coupon" in spec["components"]["schemas"]["OrderRequest"]["properties"]
