"""Invite links: made in a parent's back office with a preset plan, markup, expiry and
uses; they open a shop even while sign-ups are closed; expired or used up → a message."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from kameng.billing.plans import services as plans
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales import openshop
from kameng.shop.pricing.models import MarkupRule
from kameng.tenants import openshop as signups
from kameng.tenants import services
from kameng.tenants.models import Tenant
from kameng.tenants.signup_models import ShopInvite, ShopSignup
from tests.helpers import login
from tests.tenants.test_open_shop import counts, form


@pytest.fixture
def master(app):
    master = services.create_tenant("master", "Master Shop", locale="en")
    services.create_user(master, "owner@master.test", "owner", "correct-horse")
    return master


def make_invite(client, **fields) -> str:
    data = {"days": "7", "plan": "", "markup": "", "max_uses": "", "note": "friend"}
    data.update(fields)
    answer = client.post("/admin/subshops/invites", data=data)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:3000]
    page = client.get("/admin/subshops").get_data(as_text=True)
    link = re.search(r"(http://master\.localhost/open-shop\?invite=[A-Za-z0-9_-]+)", page)
    assert link, "the new link is shown once"
    return urlsplit(link.group(1)).query.split("=", 1)[1]


def test_an_invite_opens_a_shop_while_sign_ups_are_closed_with_its_preset(master,
                                                                           client_for):
    free = plans.create_plan(master, "free", "Free", 0, sub_shops=True)
    owner = client_for("master.localhost")
    login(owner, "owner@master.test")
    token = make_invite(owner, plan=str(free.id), markup="12.5", max_uses="1")
    assert signups.signup_settings(master)["mode"] == "closed"

    visitor = client_for("master.localhost")
    assert "does not take new shops" in visitor.get("/open-shop").get_data(as_text=True)
    page = visitor.get(f"/open-shop?invite={token}")
    assert page.status_code == 200 and "You were invited" in page.get_data(as_text=True)
    answer = visitor.post("/open-shop", data=form(invite=token))
    assert answer.status_code == 303
    shop = db.session.scalar(select(Tenant).where(Tenant.slug == "founder"))
    # no approval needed, the invite's plan and markup
    assert shop.status == "active"
    assert plans.subscription_of(shop).plan_id == free.id
    rule = db.session.scalar(select(MarkupRule).where(MarkupRule.tenant_id == shop.id))
    assert rule.value == 1250
    signup = db.session.scalar(select(ShopSignup).where(ShopSignup.tenant_id == shop.id))
    assert signup.invite_id is not None

    # used up: a clear message, nothing more written
    before = counts()
    used = client_for("master.localhost").get(f"/open-shop?invite={token}")
    assert used.status_code == 410 and "used up" in used.get_data(as_text=True)
    again = client_for("master.localhost").post(
        "/open-shop", data=form(invite=token, email="other@example.com", slug="other"))
    assert again.status_code == 410
    assert counts() == before


def test_an_expired_or_withdrawn_invite_says_so(master, client_for):
    free = plans.create_plan(master, "free", "Free", 0, sub_shops=True)
    owner = client_for("master.localhost")
    login(owner, "owner@master.test")
    token = make_invite(owner, plan=str(free.id))
    db.session.execute(update(ShopInvite).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    expired = client_for("master.localhost").get(f"/open-shop?invite={token}")
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)

    token = make_invite(owner, plan=str(free.id))
    invite = db.session.scalar(select(ShopInvite).order_by(ShopInvite.id.desc()))
    assert owner.post(f"/admin/subshops/invites/{invite.id}/revoke").status_code == 302
    gone = client_for("master.localhost").get(f"/open-shop?invite={token}")
    assert gone.status_code == 410 and "withdrawn" in gone.get_data(as_text=True)
    bogus = client_for("master.localhost").get("/open-shop?invite=not-a-token")
    assert bogus.status_code == 410 and "not valid" in bogus.get_data(as_text=True)


def test_an_invite_with_a_paid_plan_still_waits_for_payment(master, client_for):
    pro = plans.create_plan(master, "pro", "Pro", 9900, sub_shops=True)
    token = openshop.create_invite(master, plan_id=pro.id, markup_bp=None, days=1)
    answer = client_for("master.localhost").post("/open-shop", data=form(invite=token))
    assert answer.status_code == 303
    shop = db.session.scalar(select(Tenant).where(Tenant.slug == "founder"))
    assert shop.status == "pending"
    signup = db.session.scalar(select(ShopSignup).where(ShopSignup.tenant_id == shop.id))
    assert signup.awaiting_payment and not signup.awaiting_approval


def test_bad_invites_are_refused_in_the_back_office(master, client_for):
    capped = plans.create_plan(master, "capped", "Capped", 0, sub_shops=True,
                               max_markup_bp=1000)
    owner = client_for("master.localhost")
    login(owner, "owner@master.test")
    for fields, message in (({"plan": str(capped.id), "markup": "20"}, "at most 10%"),
                            ({"plan": str(capped.id), "days": "0"}, "1 to 365 days"),
                            ({"plan": "424242"}, "Choose a plan you sell"),
                            ({"plan": ""}, "offers none")):
        data = {"days": "7", "markup": "", "max_uses": "", "note": ""}
        data.update(fields)
        answer = owner.post("/admin/subshops/invites", data=data)
        assert answer.status_code == 422, fields
        assert message in answer.get_data(as_text=True), fields
    assert db.session.scalar(select(ShopInvite.id)) is None


def test_a_shop_without_sub_shops_in_its_plan_makes_no_invites(master, client_for):
    basic = plans.create_plan(master, "basic", "Basic", 0, sub_shops=False)
    star = services.create_tenant("star", "Star", "master")
    services.create_user(star, "owner@star.test", "owner", "correct-horse")
    plans.grant_plan(star, basic.id)
    owner = client_for("star.localhost")
    login(owner, "owner@star.test")
    assert owner.get("/admin/subshops").status_code == 403
    assert "/admin/subshops" not in owner.get("/admin/").get_data(as_text=True)
    assert client_for("star.localhost").get("/open-shop").status_code == 200  # closed page
