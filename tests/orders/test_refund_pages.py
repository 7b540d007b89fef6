"""The refund pages of the back office, in English and Chinese, for every role that reaches
them: the master's owner, a depth-1 shop's owner, a depth-2 shop's owner, staff."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from kameng.sales import refunds
from kameng.tenants.services import create_user
from tests.billing.commissions.helpers import deliver
from tests.helpers import PASSWORD, login
from tests.orders.helpers import card_product, fund

TEXT = {
    "en": {"refund": "Refund", "requests": "Refund requests", "goodwill": "Refund from my funds",
           "ask": "Send a refund request", "approve": "Approve and refund",
           "forward": "Forward to the parent shop", "open": "open", "below": "From the shops below",
           "sent": "Sent by this shop", "voided": "voided",
           "forbidden": "send your parent shop a refund request",
           "short": "does not cover this refund"},
    "zh_CN": {"refund": "退款", "requests": "退款申请", "goodwill": "用我的资金退款",
              "ask": "提交退款申请", "approve": "批准并退款", "forward": "上报给上级分站",
              "open": "处理中", "below": "来自下级分站", "sent": "本店提交的", "voided": "已作废",
              "forbidden": "向上级分站提交退款申请", "short": "不足以支付此退款"},
}
LANGS = tuple(TEXT)


@pytest.fixture
def world(app, tree):
    """A delivered order at each shop; the rocket's request waits at the star, one of the
    star's at the master; a master order refunded in full (its code voided)."""
    product = card_product(codes=10)
    for buyer in (tree.master_customer, tree.star_customer, tree.rocket_customer):
        fund(buyer, 50_000)
    w = SimpleNamespace(tree=tree, product=product)
    w.master_order = deliver(tree.master, tree.master_customer, product)
    w.master_refunded = deliver(tree.master, tree.master_customer, product)
    refunds.refund_directly(tree.master, w.master_refunded, "code invalid",
                            actor=tree.master_owner)
    w.star_order = deliver(tree.star, tree.star_customer, product)
    w.star_asked = deliver(tree.star, tree.star_customer, product)
    w.rocket_order = deliver(tree.rocket, tree.rocket_customer, product)
    w.star_request = refunds.file_request(tree.star, w.star_asked, "code invalid",
                                          actor=tree.star_owner)
    w.rocket_request = refunds.file_request(tree.rocket, w.rocket_order, "code invalid",
                                            actor=tree.rocket_owner)
    w.staff = create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    return w


def client(client_for, shop, email, lang):
    c = client_for(f"{shop.slug}.localhost")
    login(c, email)
    c.get(f"/lang/{lang}")
    return c


@pytest.mark.parametrize("lang", LANGS)
def test_master_owner_pages(world, client_for, lang):
    t, w = TEXT[lang], world
    c = client(client_for, w.tree.master, "owner@master.test", lang)
    page = c.get(f"/admin/orders/{w.master_order.order_no}")
    assert page.status_code == 200 and 'class="card refund-form"' in page.text
    assert "goodwill-form" not in page.text and "request-form" not in page.text
    voided = c.get(f"/admin/orders/{w.master_refunded.order_no}").text
    assert t["voided"] in voided and "data-voided-code=" in voided
    stock = c.get(f"/admin/stock/products/{w.product.id}").text
    assert t["voided"] in stock and w.master_refunded.order_no in stock
    listing = c.get("/admin/refund-requests")
    assert listing.status_code == 200 and t["requests"] in listing.text
    assert f">R{w.star_request.id}<" in listing.text
    assert f">R{w.rocket_request.id}<" not in listing.text   # still at the star
    detail = c.get(f"/admin/refund-requests/{w.star_request.id}")
    assert detail.status_code == 200 and t["approve"] in detail.text
    assert t["forward"] not in detail.text
    assert c.get(f"/admin/refund-requests/{w.rocket_request.id}").status_code == 404


@pytest.mark.parametrize("lang", LANGS)
def test_depth_1_owner_pages(world, client_for, lang):
    t, w = TEXT[lang], world
    c = client(client_for, w.tree.star, "owner@star.test", lang)
    page = c.get(f"/admin/orders/{w.star_order.order_no}")
    assert page.status_code == 200
    assert t["goodwill"] in page.text and t["ask"] in page.text
    assert 'class="card refund-form"' not in page.text
    asked = c.get(f"/admin/orders/{w.star_asked.order_no}").text
    assert f">R{w.star_request.id}<" in asked and "open-request" in asked
    refused = c.post(f"/admin/orders/{w.star_order.order_no}/refund", data={"reason": "x"})
    assert refused.status_code == 403 and t["forbidden"] in refused.text
    short = c.post(f"/admin/orders/{w.star_order.order_no}/goodwill", data={"reason": "x"})
    assert short.status_code == 402 and t["short"] in short.text
    listing = c.get("/admin/refund-requests")
    assert listing.status_code == 200
    for key in ("requests", "below", "sent", "open"):
        assert t[key] in listing.text
    assert f">R{w.star_request.id}<" in listing.text and f">R{w.rocket_request.id}<" in listing.text
    incoming = c.get(f"/admin/refund-requests/{w.rocket_request.id}")
    assert incoming.status_code == 200 and t["forward"] in incoming.text
    assert t["approve"] not in incoming.text
    mine = c.get(f"/admin/refund-requests/{w.star_request.id}")
    assert mine.status_code == 200 and t["open"] in mine.text
    assert 'class="card decision-form"' not in mine.text       # waits at the master


@pytest.mark.parametrize("lang", LANGS)
def test_depth_2_owner_pages(world, client_for, lang):
    t, w = TEXT[lang], world
    c = client(client_for, w.tree.rocket, "owner@rocket.test", lang)
    page = c.get(f"/admin/orders/{w.rocket_order.order_no}")
    assert page.status_code == 200 and "open-request" in page.text
    assert "goodwill-form" not in page.text       # a request is open: wait for it
    listing = c.get("/admin/refund-requests")
    assert listing.status_code == 200 and t["sent"] in listing.text
    assert f">R{w.rocket_request.id}<" in listing.text
    assert f">R{w.star_request.id}<" not in listing.text
    detail = c.get(f"/admin/refund-requests/{w.rocket_request.id}")
    assert detail.status_code == 200 and t["open"] in detail.text
    assert "Star Cards" in detail.text and 'class="card decision-form"' not in detail.text
    assert c.get(f"/admin/refund-requests/{w.star_request.id}").status_code == 404


@pytest.mark.parametrize("lang", LANGS)
def test_staff_pages(world, client_for, lang):
    t, w = TEXT[lang], world
    c = client(client_for, w.tree.star, "staff@star.test", lang)
    page = c.get(f"/admin/orders/{w.star_order.order_no}")
    assert page.status_code == 200 and t["refund"] in page.text   # the nav entry
    assert "goodwill-form" not in page.text and "request-form" not in page.text
    listing = c.get("/admin/refund-requests")
    assert listing.status_code == 200 and t["requests"] in listing.text
    assert f">R{w.rocket_request.id}<" in listing.text
    detail = c.get(f"/admin/refund-requests/{w.rocket_request.id}")
    assert detail.status_code == 200 and 'class="card decision-form"' not in detail.text
    for action in ("forward", "reject", "approve"):
        assert c.post(f"/admin/refund-requests/{w.rocket_request.id}/{action}",
                      data={"note": "x"}).status_code == 403
    assert c.post(f"/admin/orders/{w.star_order.order_no}/goodwill",
                  data={"reason": "x"}).status_code == 403
    assert c.post(f"/admin/orders/{w.star_order.order_no}/refund-request",
                  data={"reason": "x"}).status_code == 403
    # the master's staff read the requests at the master, decide nothing
    create_user(w.tree.master, "staff@master.test", "staff", PASSWORD)
    m = client(client_for, w.tree.master, "staff@master.test", lang)
    assert f"R{w.star_request.id}" in m.get("/admin/refund-requests").text
    assert m.post(f"/admin/refund-requests/{w.star_request.id}/approve",
                  data={"note": "x"}).status_code == 403
