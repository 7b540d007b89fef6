"""The customers pages: search (e-mail, name, order number), paging, detail (orders, wallet
balance, member tier), block and unblock — a blocked customer is signed out, cannot sign in,
cannot buy (web or API) and gets it all back when unblocked; another shop's id is a 404."""
from __future__ import annotations

import pytest

from kameng.billing import wallets
from kameng.core.extensions import db
from kameng.shop.pricing import services as pricing
from kameng.tenants import api_keys, customers
from kameng.tenants.services import create_user
from tests.helpers import PASSWORD, login
from tests.orders.helpers import wallet_order


def _list(resp) -> str:
    """The customers table of a list page."""
    return resp.text.split('class="customers-list"')[1].split("</table>")[0]


def _as(client_for, host: str, email: str):
    client = client_for(host)
    assert login(client, email).status_code == 302, email
    return client


@pytest.fixture
def bought(app, tree):
    order = wallet_order(tree.star, tree.star_customer)
    return order


def test_search_by_email_name_and_order_number(app, tree, bought, client_for):
    create_user(tree.star, "zhang@star.test", "customer", PASSWORD, "张三")
    owner = _as(client_for, "star.localhost", "owner@star.test")
    page = _list(owner.get("/admin/customers"))
    assert "buyer@star.test" in page and "zhang@star.test" in page
    assert "owner@star.test" not in page and "buyer@rocket.test" not in page
    found = _list(owner.get("/admin/customers?q=张"))
    assert "zhang@star.test" in found and "buyer@star.test" not in found
    found = _list(owner.get("/admin/customers?q=BUYER@"))
    assert "buyer@star.test" in found and "zhang@star.test" not in found
    assert "@star.test" not in _list(owner.get("/admin/customers?q=%25"))   # % is no wildcard
    resp = owner.get(f"/admin/customers?q={bought.order_no.lower()}")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/admin/customers/{tree.star_customer.id}")


def test_paging(app, tree):
    for i in range(5):
        create_user(tree.star, f"p{i}@star.test", "customer", PASSWORD)
    first = customers.search_customers(tree.star, "@star", size=4)
    assert len(first.rows) == 4 and first.older
    second = customers.search_customers(tree.star, "@star", size=4, before=first.older)
    assert {u.email for u in first.rows}.isdisjoint({u.email for u in second.rows})
    assert len(first.rows) + len(second.rows) == 6   # five new ones and the demo buyer


def test_detail_shows_orders_balance_and_tier(app, tree, bought, client_for):
    owner = _as(client_for, "star.localhost", "owner@star.test")
    page = owner.get(f"/admin/customers/{tree.star_customer.id}").text
    assert bought.order_no in page
    assert 'data-tiers="none">—<' in page
    pricing.set_tier(tree.star, "VIP", 500, 0)
    page = owner.get(f"/admin/customers/{tree.star_customer.id}").text
    assert 'data-tiers="yes">VIP<' in page
    balance = wallets.wallet_balance(tree.star_customer)
    assert f"{balance // 100}." in page.split('id="balance"')[1][:40]


def test_block_signs_out_refuses_sign_in_and_buying_and_unblock_restores(app, tree, bought,
                                                                         client_for):
    buyer = _as(client_for, "star.localhost", "buyer@star.test")
    assert buyer.get("/account/wallet").status_code == 200
    key = api_keys.create_key(tree.star_customer, "bot").plaintext
    api = client_for("star.localhost")
    auth = {"Authorization": f"Bearer {key}"}
    assert api.get("/api/v1/balance", headers=auth).status_code == 200

    support = create_user(tree.star, "support@star.test", "staff", PASSWORD, staff_role="support")
    staff = _as(client_for, "star.localhost", support.email)
    uid = tree.star_customer.id
    assert staff.post(f"/admin/customers/{uid}/block").status_code == 302
    page = staff.get(f"/admin/customers/{uid}").text
    assert "badge bad" in page and f"/admin/customers/{uid}/unblock" in page

    assert buyer.get("/account/wallet").status_code in (302, 401)      # signed out
    assert login(client_for("star.localhost"), "buyer@star.test").status_code == 200  # refused
    assert api.get("/api/v1/balance", headers=auth).status_code == 401
    assert staff.post(f"/admin/customers/{uid}/block").status_code == 302   # twice: no change

    assert staff.post(f"/admin/customers/{uid}/unblock").status_code == 302
    db.session.expire_all()
    assert tree.star_customer.blocked_at is None and tree.star_customer.is_active
    assert _as(client_for, "star.localhost", "buyer@star.test").get(
        "/account/wallet").status_code == 200
    assert api.get("/api/v1/balance", headers=auth).status_code == 200
    audit = _as(client_for, "star.localhost", "owner@star.test").get("/admin/audit").text
    assert "admin.customer_block" in audit and "admin.customer_unblock" in audit


def test_another_shops_customer_and_staff_are_404(app, tree, client_for):
    owner = _as(client_for, "star.localhost", "owner@star.test")
    for uid in (tree.rocket_customer.id, tree.master_customer.id, tree.star_owner.id):
        assert owner.get(f"/admin/customers/{uid}").status_code == 404
        assert owner.post(f"/admin/customers/{uid}/block").status_code == 404
    # the master too: its customers page is its own buyers'
    master = _as(client_for, "master.localhost", "owner@master.test")
    assert master.get(f"/admin/customers/{tree.star_customer.id}").status_code == 404
    assert "buyer@star.test" not in _list(master.get("/admin/customers"))
    db.session.expire_all()
    assert tree.rocket_customer.blocked_at is None and tree.master_customer.blocked_at is None
