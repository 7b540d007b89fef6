"""Plans in the back office: edit (name, price, limits), retire, the markup cap as a
percentage; every role that can reach the pages, in both languages."""
from __future__ import annotations

from datetime import timedelta

import pytest

from kameng.billing.plans import services as plans
from kameng.core.errors import NotFound
from kameng.core.extensions import db
from kameng.tenants.services import create_user
from tests.helpers import PASSWORD, login

pytestmark = pytest.mark.both


def _client(client_for, host, email, locale):
    client = client_for(host)
    login(client, email)
    client.get(f"/lang/{locale}")
    return client


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_master_creates_edits_and_retires_with_a_percent_cap(app, tree, client_for, locale):
    master = _client(client_for, "master.localhost", "owner@master.test", locale)
    assert master.post("/admin/plans/create", data={
        "code": "pro", "name": "专业版", "price": "30", "interval": "month",
        "sub_shops": "1", "max_markup": "12.5"}).status_code == 302
    [plan] = plans.plans_of(tree.master)
    assert plan.max_markup_bp == 1250
    page = master.get("/admin/plans").get_data(as_text=True)
    assert "12.5%" in page and f"/admin/plans/{plan.id}" in page
    edit = master.get(f"/admin/plans/{plan.id}")
    assert edit.status_code == 200 and 'value="12.5"' in edit.get_data(as_text=True)
    assert ("Edit plan" if locale == "en" else "编辑套餐") in edit.get_data(as_text=True)
    bad = master.post(f"/admin/plans/{plan.id}", data={"name": "专业版", "price": "30",
                                                        "max_markup": "12.345"})
    assert bad.status_code == 422 and 'value="12.345"' in bad.get_data(as_text=True)
    db.session.expire_all()
    assert plans.get_plan(plan.id).max_markup_bp == 1250
    ok = master.post(f"/admin/plans/{plan.id}", data={
        "name": "Pro+", "price": "45.50", "max_markup": "20", "max_staff": "3",
        "sub_shops": "1", "own_gateway": "1"})
    assert ok.status_code == 302
    db.session.expire_all()
    plan = plans.get_plan(plan.id)
    assert (plan.name, plan.price, plan.max_markup_bp, plan.max_staff, plan.sub_shops,
            plan.custom_domain, plan.own_gateway) == ("Pro+", 4550, 2000, 3, True, False, True)
    assert 'name="own_gateway" value="1" checked' in master.get(f"/admin/plans/{plan.id}").text
    assert master.post(f"/admin/plans/{plan.id}/retire").status_code == 302
    db.session.expire_all()
    assert not plans.get_plan(plan.id).active
    assert plans.offered_to(tree.star) == []
    page = master.get("/admin/plans").get_data(as_text=True)
    assert ("retired" if locale == "en" else "已停用") in page
    assert master.post(f"/admin/plans/{plan.id}/reinstate").status_code == 302
    db.session.expire_all()
    assert plans.get_plan(plan.id).active


def test_retired_plan_takes_no_new_subscriber_and_the_current_one_runs_out(app, tree):
    basic = plans.create_plan(tree.master, "basic", "普及版", 0, sub_shops=True)
    plans.grant_plan(tree.star, basic.id)
    sub = plans.subscription_of(tree.star)
    end = sub.current_period_end
    plans.retire_plan(tree.master, basic.id)
    # the current subscriber keeps its plan until the paid period ends
    assert plans.subscription_of(tree.star).status == "active"
    assert plans.plan_allows(tree.star, "sub_shops")
    # nobody subscribes or renews
    for shop in (tree.star, tree.rocket):
        with pytest.raises(NotFound):
            plans.pay_plan(shop, basic.id, "balance")
        db.session.rollback()
    counts = plans.sweep_subscriptions(now=end + timedelta(days=60))
    assert counts and plans.subscription_of(tree.star).status != "active"


def test_a_shop_cannot_edit_or_retire_another_shops_plan(app, tree, client_for):
    basic = plans.create_plan(tree.master, "basic", "普及版", 0, sub_shops=True)
    plans.grant_plan(tree.star, basic.id)
    star = _client(client_for, "star.localhost", "owner@star.test", "en")
    assert star.get(f"/admin/plans/{basic.id}").status_code == 404
    assert star.post(f"/admin/plans/{basic.id}", data={"name": "x", "price": "0"}
                     ).status_code == 404
    assert star.post(f"/admin/plans/{basic.id}/retire").status_code == 404
    db.session.expire_all()
    assert plans.get_plan(basic.id).active and plans.get_plan(basic.id).name == "普及版"


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_sub_shop_owner_edits_its_resold_plan_staff_get_403(app, tree, client_for, locale):
    basic = plans.create_plan(tree.master, "basic", "普及版", 1000, sub_shops=True,
                              max_markup_bp=3000)
    plans.grant_plan(tree.star, basic.id)
    resold = plans.create_plan(tree.star, "star-basic", "星普及", 1500, base_plan_id=basic.id)
    star = _client(client_for, "star.localhost", "owner@star.test", locale)
    page = star.get("/admin/plans").get_data(as_text=True)
    assert "30%" in page and "星普及" in page
    edit = star.get(f"/admin/plans/{resold.id}")
    assert edit.status_code == 200 and 'name="max_markup"' not in edit.get_data(as_text=True)
    below = star.post(f"/admin/plans/{resold.id}", data={"name": "星", "price": "9"})
    assert below.status_code == 422
    assert star.post(f"/admin/plans/{resold.id}", data={
        "name": "星普及 2", "price": "18", "max_markup": "90"}).status_code == 302
    db.session.expire_all()
    resold = plans.get_plan(resold.id)
    assert (resold.name, resold.price, resold.max_markup_bp) == ("星普及 2", 1800, 3000)
    assert star.post(f"/admin/plans/{resold.id}/retire").status_code == 302
    create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    staff = _client(client_for, "star.localhost", "staff@star.test", locale)
    for url in ("/admin/plans", f"/admin/plans/{resold.id}"):
        assert staff.get(url).status_code == 403
    assert staff.post(f"/admin/plans/{resold.id}/reinstate").status_code == 403
    basic_id = basic.id
    create_user(tree.master, "staff@master.test", "staff", PASSWORD)
    master_staff = _client(client_for, "master.localhost", "staff@master.test", locale)
    assert master_staff.get(f"/admin/plans/{basic_id}").status_code == 403
    assert master_staff.post(f"/admin/plans/{basic_id}/retire").status_code == 403
    db.session.expire_all()
    assert plans.get_plan(basic_id).active


def test_retired_current_plan_is_said_on_the_subscribers_page(app, tree, client_for):
    basic = plans.create_plan(tree.master, "basic", "普及版", 0)
    plans.grant_plan(tree.star, basic.id)
    plans.retire_plan(tree.master, basic.id)
    star = _client(client_for, "star.localhost", "owner@star.test", "en")
    assert "This plan is retired" in star.get("/admin/plans").get_data(as_text=True)
