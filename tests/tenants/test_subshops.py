"""The sub-shops page: the tree below me with plan, status, funded balance, sales and my
earnings; approve, suspend, resume — over my subtree only; suspended shops are closed to
buyers and the API while their owners still sign in."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kameng.billing.plans import services as plans
from kameng.core.extensions import db
from kameng.sales import openshop
from kameng.tenants import api_keys
from kameng.tenants import openshop as signups
from kameng.tenants.models import Tenant
from tests.helpers import login
from tests.tenants.test_open_shop import GOOD_PASSWORD


def status_of(shop) -> str:
    db.session.expire_all()
    return db.session.get(Tenant, shop.id).status


@pytest.fixture
def signed_up(tree):
    """A shop opened on star's site, waiting for star's approval."""
    reseller = plans.create_plan(tree.master, "reseller", "Reseller", 0, sub_shops=True)
    plans.grant_plan(tree.star, reseller.id)
    resold = plans.create_plan(tree.star, "star-free", "Star free", 0,
                               base_plan_id=reseller.id)
    openshop.set_signup_settings(tree.star, "approval", [resold.id], 0)
    opened = openshop.open_shop(tree.star, openshop.SignupRequest(
        email="founder@example.com", password=GOOD_PASSWORD, shop_name="Newbie",
        slug="newbie"))
    return opened.tenant


def test_the_page_lists_the_tree_below_me(tree, signed_up, client_for):
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    page = master.get("/admin/subshops")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for slug in ("star", "rocket", "newbie"):
        assert f'data-shop="{slug}"' in body
    assert "Star free" in body and "Reseller" in body       # each shop's plan
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    body = star.get("/admin/subshops").get_data(as_text=True)
    assert 'data-shop="newbie"' in body and 'data-shop="rocket"' in body
    assert 'data-shop="star"' not in body and 'data-shop="master"' not in body
    assert "/admin/subshops" in star.get("/admin/").get_data(as_text=True)  # in the nav


def test_approve_suspend_resume(tree, signed_up, client_for):
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    assert client_for("newbie.localhost").get("/").status_code == 503
    assert star.post(f"/admin/subshops/{signed_up.id}/approve").status_code == 302
    assert status_of(signed_up) == "active"
    assert client_for("newbie.localhost").get("/").status_code == 200
    # approving twice is refused with a message
    assert star.post(f"/admin/subshops/{signed_up.id}/approve").status_code == 409

    key = api_keys.create_key(tree.rocket_customer).plaintext
    api = client_for("rocket.localhost")
    assert api.get("/api/v1/products", headers={"Authorization": f"Bearer {key}"}
                   ).status_code == 200
    assert star.post(f"/admin/subshops/{tree.rocket.id}/suspend").status_code == 302
    assert status_of(tree.rocket) == "suspended"
    assert client_for("rocket.localhost").get("/").status_code == 503
    refused = api.get("/api/v1/products", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 503 and refused.json["code"] == "shop_closed"
    # the owner still signs in to the back office; nothing is lost
    owner = client_for("rocket.localhost")
    assert login(owner, "owner@rocket.test").status_code == 302
    assert owner.get("/admin/").status_code == 200
    assert star.post(f"/admin/subshops/{tree.rocket.id}/resume").status_code == 302
    assert status_of(tree.rocket) == "active"
    assert api.get("/api/v1/products", headers={"Authorization": f"Bearer {key}"}
                   ).status_code == 200


def test_the_master_acts_over_everything_below_a_parent_never_above_or_beside(
        tree, signed_up, client_for):
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    assert master.post(f"/admin/subshops/{signed_up.id}/suspend").status_code == 409  # pending
    assert master.post(f"/admin/subshops/{tree.rocket.id}/suspend").status_code == 302
    assert status_of(tree.rocket) == "suspended"
    assert master.post(f"/admin/subshops/{tree.master.id}/suspend").status_code == 404
    # rocket's owner (depth 2) cannot touch star (above) nor newbie (beside)
    rocket = client_for("rocket.localhost")
    login(rocket, "owner@rocket.test")
    for shop in (tree.star, signed_up, tree.master):
        assert rocket.post(f"/admin/subshops/{shop.id}/approve").status_code == 404
        assert rocket.post(f"/admin/subshops/{shop.id}/suspend").status_code == 404
    assert status_of(signed_up) == "pending" and status_of(tree.star) == "active"
    # staff may not use the page
    from kameng.tenants import services

    services.create_user(tree.star, "staff@star.test", "staff", "correct-horse")
    staff = client_for("star.localhost")
    login(staff, "staff@star.test")
    assert staff.get("/admin/subshops").status_code == 403
    assert staff.post(f"/admin/subshops/{tree.rocket.id}/resume").status_code == 403


def test_only_the_suspender_or_a_shop_above_it_reopens_a_shop(tree, client_for):
    """A parent cannot undo what the master decided about its child."""
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    assert master.post(f"/admin/subshops/{tree.rocket.id}/suspend").status_code == 302
    refused = star.post(f"/admin/subshops/{tree.rocket.id}/resume")
    assert refused.status_code == 409
    assert "只有它可以恢复" in refused.get_data(as_text=True)  # the demo speaks zh-CN
    assert status_of(tree.rocket) == "suspended"
    assert client_for("rocket.localhost").get("/").status_code == 503
    assert master.post(f"/admin/subshops/{tree.rocket.id}/resume").status_code == 302
    assert status_of(tree.rocket) == "active"
    # what star suspended, star or the master (above it) may reopen
    assert star.post(f"/admin/subshops/{tree.rocket.id}/suspend").status_code == 302
    assert master.post(f"/admin/subshops/{tree.rocket.id}/resume").status_code == 302
    assert status_of(tree.rocket) == "active"


def test_the_sign_up_setting_is_edited_on_the_page(tree, client_for):
    free = plans.create_plan(tree.master, "free", "Free", 0, sub_shops=True,
                             max_markup_bp=2000)
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    master.get("/lang/en")
    answer = master.post("/admin/subshops/settings",
                         data={"mode": "approval", "plans": [str(free.id)], "markup": "15"})
    assert answer.status_code == 302
    db.session.expire_all()
    assert signups.signup_settings(db.session.get(Tenant, tree.master.id)) == {
        "mode": "approval", "plans": [free.id], "markup_bp": 1500}
    for data, message in (({"mode": "open", "markup": "5"}, "at least one plan"),
                          ({"mode": "open", "plans": [str(free.id)], "markup": "25"},
                           "at most 20%"),
                          ({"mode": "sometimes", "plans": [str(free.id)]}, "closed, with")):
        refused = master.post("/admin/subshops/settings", data=data)
        assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    db.session.expire_all()
    assert signups.signup_settings(db.session.get(Tenant, tree.master.id))["mode"] == \
        "approval"
    # the storefront footer links the form
    assert "/open-shop" in client_for("master.localhost").get("/").get_data(as_text=True)


def test_earnings_from_a_shop_count_its_subtree(app):
    from kameng.billing.commissions.models import Commission, CommissionShare
    from tests.billing.commissions.helpers import card_product, chain, deliver, fund

    c = chain(depth=2)
    master, s1, s2 = c.shops
    product = card_product(codes=5)
    for level in (1, 2):
        fund(c.buyers[level], 10_000)
        deliver(c.shops[level], c.buyers[level], product)

    def share(owner, seller) -> int:
        return int(db.session.scalar(
            select(func.sum(CommissionShare.net))
            .join(Commission, Commission.id == CommissionShare.commission_id)
            .where(CommissionShare.tenant_id == owner.id, CommissionShare.user_id.is_(None),
                   Commission.tenant_id == seller.id)) or 0)

    rows = {r.tenant.slug: r for r in openshop.subshop_rows(master)[0]}
    assert rows["s1"].depth == 1 and rows["s2"].depth == 2
    # what the master earned on s1's sales and on s2's (s2 is below s1)
    assert rows["s1"].my_earnings == share(master, s1) + share(master, s2) > 0
    assert rows["s2"].my_earnings == share(master, s2) > 0
    assert rows["s1"].sales > 0 and rows["s2"].sales > 0
    # s1 sees only s2, and its own margin on s2's sale
    mine, _next = openshop.subshop_rows(s1)
    assert [r.tenant.slug for r in mine] == ["s2"]
    assert mine[0].my_earnings == share(s1, s2) > 0


def test_the_sub_shops_page_comes_a_page_of_shops_at_a_time(app, client_for, monkeypatch):
    """The master's page lists every shop on the platform: a page at a time, in tree
    order, and a shop's earnings still count the sales of shops on later pages."""
    from kameng.billing.commissions.models import Commission, CommissionShare
    from tests.billing.commissions.helpers import card_product, chain, deliver, fund

    c = chain(depth=2)
    master, s1, s2 = c.shops
    product = card_product(codes=5)
    fund(c.buyers[2], 10_000)
    deliver(s2, c.buyers[2], product)     # a sale on s2 only: below s1
    earned = int(db.session.scalar(
        select(func.sum(CommissionShare.net))
        .join(Commission, Commission.id == CommissionShare.commission_id)
        .where(CommissionShare.tenant_id == master.id, CommissionShare.user_id.is_(None),
               Commission.tenant_id == s2.id)))
    assert earned > 0

    first, after = openshop.subshop_rows(master, size=1)
    assert [r.tenant.slug for r in first] == ["s1"] and after == s1.path
    assert first[0].my_earnings == earned           # s2's sale, though s2 is not on it
    second, after = openshop.subshop_rows(master, after, size=1)
    assert [r.tenant.slug for r in second] == ["s2"] and after is None
    assert second[0].my_earnings == earned
    # a key from outside the viewer's subtree starts at its first shop
    assert [r.tenant.slug for r in openshop.subshop_rows(s1, master.path)[0]] == ["s2"]

    from kameng.sales import openshop as sales_openshop
    monkeypatch.setattr(sales_openshop, "SUBSHOP_PAGE", 1)
    client = client_for(f"{master.slug}.localhost")
    login(client, c.owners[0].email)
    for lang, more in (("en", "More shops"), ("zh_CN", "更多店铺")):
        client.get(f"/lang/{lang}")
        page = client.get("/admin/subshops").get_data(as_text=True)
        assert 'data-shop="s1"' in page and 'data-shop="s2"' not in page
        assert more in page
        page = client.get(f"/admin/subshops?after={s1.path}").get_data(as_text=True)
        assert 'data-shop="s2"' in page and 'data-shop="s1"' not in page
