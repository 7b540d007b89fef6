"""A row id of shop A requested on shop B's host is 404, for every view that takes one.

Shop B's own owner (back office) and customer (storefront, API) are logged in
on B's host and ask for ids that belong to shop A.
"""
from __future__ import annotations

import pytest

from kameng.admin import permissions
from kameng.billing import wallets
from kameng.core.extensions import db
from kameng.core.scoping import tenant_scope
from kameng.sales import services as orders
from kameng.shop.pricing import services as pricing
from kameng.tenants import api_keys, appearance, domains
from kameng.tenants.models import User
from kameng.tenants.services import create_user
from tests.helpers import PASSWORD, login
from tests.orders.helpers import wallet_order

pytestmark = pytest.mark.both


@pytest.fixture
def star_rows(app, tree):
    order = wallet_order(tree.star, tree.star_customer)
    key = api_keys.create_key(tree.star_customer, "star key")
    rule = pricing.set_markup(tree.star, kind="percent", value=500)
    tx = wallets.credit_wallet(tree.star_customer, 100, note="gift")
    draft = appearance.save_draft(tree.star, "classic", {"banner_text": "star draft"},
                                  "a{color:#123456}")
    domain = domains.add_domain("star", "star-cards.example.com")
    star_staff = create_user(tree.star, "support@star.test", "staff", PASSWORD,
                             staff_role="support")
    from kameng.billing.plans import services as plans
    from kameng.sales import openshop

    plans.grant_plan(tree.star, plans.create_plan(tree.master, "reseller", "Reseller", 0,
                                                  sub_shops=True).id)
    resold = plans.create_plan(tree.star, "star-free", "Star free", 0,
                               base_plan_id=plans.plan_by_code(tree.master, "reseller").id)
    openshop.set_signup_settings(tree.star, "open", [resold.id], 0)
    openshop.create_invite(tree.star, plan_id=resold.id, markup_bp=None, days=3)
    invite_id = openshop.invites_of(tree.star)[0].id
    return {"draft_id": draft.id, "domain_id": domain.id, "staff_id": star_staff.id, "order_no": order.order_no, "line_id": order.lines[0].id, "key_id": key.key.id,
            "rule_id": rule.id, "tx_id": tx.id, "user_id": tree.star_customer.id,
            "api_key": key.plaintext, "invite_id": invite_id,
            # the shops above rocket: its parent and the master
            "parent_id": tree.star.id, "master_id": tree.master.id}


OWNER_ROUTES = [
    ("GET", "/admin/orders/{order_no}"),
    ("POST", "/admin/orders/{order_no}/lines/{line_id}/deliver"),
    ("POST", "/admin/orders/{order_no}/refund"),
    ("GET", "/admin/wallets/{user_id}"),
    ("POST", "/admin/wallets/{user_id}/credit"),
    ("POST", "/admin/markup/{rule_id}/delete"),
    ("POST", "/admin/api-keys/{key_id}/revoke"),
    # the theme studio's draft preview: another shop's owner cannot name star's draft
    ("GET", "/?preview={draft_id}"),
    ("GET", "/_theme/custom.css?preview={draft_id}"),
    ("POST", "/admin/domains/{domain_id}/verify"),
    ("POST", "/admin/domains/{domain_id}/primary"),
    ("POST", "/admin/domains/{domain_id}/remove"),
    ("GET", "/admin/customers/{user_id}"),
    ("POST", "/admin/customers/{user_id}/block"),
    ("POST", "/admin/customers/{user_id}/unblock"),
    ("POST", "/admin/staff/{staff_id}/role"),
    ("POST", "/admin/staff/{staff_id}/disable"),
    ("POST", "/admin/staff/{staff_id}/remove"),
    ("POST", "/admin/subshops/invites/{invite_id}/revoke"),
    ("POST", "/admin/subshops/{parent_id}/suspend"),
    ("POST", "/admin/subshops/{parent_id}/approve"),
    ("POST", "/admin/subshops/{parent_id}/resume"),
    ("POST", "/admin/subshops/{master_id}/suspend"),
]
STAFF_ROLES = ("manager", "support", "finance")
CUSTOMER_ROUTES = [
    ("GET", "/o/{order_no}"),
    ("GET", "/o/{order_no}/pay"),
    ("GET", "/o/{order_no}/status"),
    ("GET", "/account/wallet/transactions/{tx_id}"),
    ("POST", "/account/api-keys/{key_id}/revoke"),
]


@pytest.mark.parametrize("method, route", OWNER_ROUTES)
def test_back_office_ids_of_another_shop_are_404(app, tree, star_rows, client_for, method,
                                                 route):
    rocket = client_for("rocket.localhost")
    assert login(rocket, "owner@rocket.test").status_code == 302
    resp = rocket.open(route.format(**star_rows), method=method,
                       data={"amount": "1.00", "codes": "X", "reason": "x"})
    assert resp.status_code == 404


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_back_office_ids_of_another_shop_for_each_staff_role(app, tree, star_rows, client_for,
                                                             role):
    """A staff account of another shop: 403 outside its role's areas, 404 inside them."""
    create_user(tree.rocket, f"{role}@rocket.test", "staff", PASSWORD, staff_role=role)
    rocket = client_for("rocket.localhost")
    assert login(rocket, f"{role}@rocket.test").status_code == 302
    adapter = app.url_map.bind("rocket.localhost")
    for method, route in OWNER_ROUTES:
        url = route.format(**star_rows)
        endpoint, _args = adapter.match(url.split("?")[0], method=method)
        resp = rocket.open(url, method=method, data={"amount": "1.00", "role": "owner"})
        if not endpoint.startswith("admin."):
            # the studio's draft preview: staff see their own live shop, never star's draft
            assert b"star draft" not in resp.data, (role, method, url)
            continue
        opens = permissions.may_open(role, permissions.area_of(endpoint))
        assert resp.status_code in ((403, 404) if opens else (403,)), (role, method, url)
        # an area the role opens: the view's own checks answer (404 for the row, or 403
        # where the action stays the owner's)
        if opens and route.startswith("/admin/customers"):
            assert resp.status_code == 404, (role, method, url)


@pytest.mark.parametrize("method, route", CUSTOMER_ROUTES)
def test_storefront_ids_of_another_shop_are_404(app, tree, star_rows, client_for, method,
                                                route):
    rocket = client_for("rocket.localhost")
    assert login(rocket, "buyer@rocket.test").status_code == 302
    resp = rocket.open(route.format(**star_rows), method=method)
    assert resp.status_code == 404


def test_api_order_of_another_shop_is_404_and_key_is_401(app, tree, star_rows, client_for):
    rocket_key = api_keys.create_key(tree.rocket_customer).plaintext
    rocket = client_for("rocket.localhost")
    resp = rocket.get(f"/api/v1/orders/{star_rows['order_no']}",
                      headers={"Authorization": f"Bearer {rocket_key}"})
    assert resp.status_code == 404 and resp.json["code"] == "not_found"
    resp = rocket.get("/api/v1/balance",
                      headers={"Authorization": f"Bearer {star_rows['api_key']}"})
    assert resp.status_code == 401


def test_rows_are_untouched(app, tree, star_rows, client_for):
    rocket = client_for("rocket.localhost")
    login(rocket, "owner@rocket.test")
    for method, route in OWNER_ROUTES:
        rocket.open(route.format(**star_rows), method=method, data={"amount": "1.00"})
    with tenant_scope(tree.star.id):
        assert orders.get_order(star_rows["order_no"]).status == "paid"
    assert len(pricing.list_markups(tree.star)) == 1
    assert api_keys.get_key(tree.star_customer, star_rows["key_id"]).revoked_at is None
    assert appearance.draft_of(tree.star).id == star_rows["draft_id"]
    assert [d.hostname for d in tree.star.domains] == ["star.localhost",
                                                      "star-cards.example.com"]
    db.session.expire_all()
    assert tree.star_customer.blocked_at is None
    assert db.session.get(User, star_rows["staff_id"]).staff_role == "support"
    from kameng.tenants.models import Tenant
    from kameng.tenants.signup_models import ShopInvite

    assert db.session.get(Tenant, tree.star.id).status == "active"
    assert db.session.get(Tenant, tree.master.id).status == "active"
    assert db.session.get(ShopInvite, star_rows["invite_id"]).revoked_at is None
