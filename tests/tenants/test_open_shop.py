"""Opening a shop from a shop's site: /open-shop, the slug check, the hand-over login
link, pending shops, and bad input that leaves nothing behind."""
from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select, update

from kameng.billing.plans import services as plans
from kameng.billing.plans.models import PlanPayment, Subscription
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales import openshop
from kameng.shop.pricing.models import MarkupRule
from kameng.tenants.models import Domain, Tenant, User
from kameng.tenants.signup_models import LoginHandover, ShopSignup
from tests.fakes.stripe import localstripe, stripe_fake  # noqa: F401  (fixtures)

GOOD_PASSWORD = "Shop-owner-2026"


@pytest.fixture
def master(app):
    from kameng.tenants import services

    master = services.create_tenant("master", "Master Shop", locale="en")
    services.create_user(master, "owner@master.test", "owner", "correct-horse")
    return master


def free_plan(master, **kwargs):
    return plans.create_plan(master, "free", "Free", 0, sub_shops=True, **kwargs)


def open_signups(master, mode="open", plan_list=(), markup_bp=0):
    openshop.set_signup_settings(master, mode, [p.id for p in plan_list], markup_bp)


def form(**overrides):
    data = {"email": "founder@example.com", "password": GOOD_PASSWORD,
            "shop_name": "Founder Cards", "slug": "founder"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def counts() -> dict:
    db.session.commit()
    return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Tenant, User, Domain, Subscription, PlanPayment, ShopSignup,
                          MarkupRule, LoginHandover)}


def follow_handover(client_for, response):
    """The 303 to the new host's hand-over link, followed there; returns (client, answer)."""
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    url = urlsplit(response.headers["Location"])
    client = client_for(url.hostname)
    return client, client.get(url.path)


@pytest.mark.both
def test_a_free_open_sign_up_opens_an_active_shop_and_logs_the_founder_in(
        master, client_for, backend):
    plan = free_plan(master)
    open_signups(master, plan_list=[plan], markup_bp=1000)
    site = client_for("master.localhost")
    page = site.get("/open-shop")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for name in ("email", "password", "shop_name", "slug"):
        assert f'name="{name}"' in body
    form_id = re.search(r'name="form_id" value="([^"]+)"', body).group(1)

    answer = site.post("/open-shop", data=form(form_id=form_id))
    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert location.hostname == "founder.localhost"
    assert location.path.startswith("/_handover/")

    shop = db.session.scalar(select(Tenant).where(Tenant.slug == "founder"))
    assert shop.parent_id == master.id and shop.status == "active"
    assert shop.theme == master.theme
    owner = db.session.scalar(select(User).where(User.tenant_id == shop.id))
    assert owner.role == "owner" and owner.email == "founder@example.com"
    sub = plans.subscription_of(shop)
    assert sub is not None and sub.plan_id == plan.id and sub.status == "active"
    rule = db.session.scalar(select(MarkupRule).where(MarkupRule.tenant_id == shop.id))
    assert rule.kind == "percent" and rule.value == 1000 and not rule.wholesale

    new_host, landed = follow_handover(client_for, answer)
    assert landed.status_code == 303 and landed.headers["Location"].endswith("/admin/")
    assert new_host.get("/admin/").status_code == 200
    # the link is spent: a replay lands on the login page with a message
    again = client_for("founder.localhost").get(location.path)
    assert again.status_code == 303 and "/login" in again.headers["Location"]
    login = client_for("founder.localhost")
    login.get(location.path)
    assert "expired or was used already" in login.get("/login").get_data(as_text=True)
    # the storefront serves the parent's catalog
    assert client_for("founder.localhost").get("/").status_code == 200


def test_the_plan_may_be_left_out_only_when_one_free_plan_is_offered(master, client_for):
    free = free_plan(master)
    paid = plans.create_plan(master, "pro", "Pro", 9900, sub_shops=True)
    open_signups(master, plan_list=[free, paid])
    site = client_for("master.localhost")
    answer = site.post("/open-shop", data=form())
    assert answer.status_code == 422
    assert "Choose a plan" in answer.get_data(as_text=True)
    assert site.post("/open-shop", data=form(plan=str(free.id))).status_code == 303


def test_a_paid_plan_leaves_the_shop_pending_until_paid(master, client_for, app):
    from kameng.billing.ledger import services as ledger

    paid = plans.create_plan(master, "pro", "Pro", 9900, sub_shops=True)
    open_signups(master, plan_list=[paid])
    answer = client_for("master.localhost").post("/open-shop", data=form(plan=str(paid.id)))
    shop = db.session.scalar(select(Tenant).where(Tenant.slug == "founder"))
    assert shop.status == "pending"
    assert plans.subscription_of(shop) is None
    # buyers see the closed page, the API refuses
    assert client_for("founder.localhost").get("/").status_code == 503
    assert client_for("founder.localhost").get("/api/v1/products").status_code == 503
    # the founder lands on the plan page to pay
    new_host, landed = follow_handover(client_for, answer)
    assert landed.headers["Location"].endswith("/admin/plans")
    assert new_host.get("/admin/plans").status_code == 200
    # paying (here from earnings the shop was given) opens it
    ledger.post(f"test-credit-{shop.id}", "funding_offline",
                [(ledger.platform_account("clearing_manual", "CNY"), -9900),
                 (ledger.shop_account(shop, "earnings_available", "CNY"), 9900)])
    assert new_host.post("/admin/plans/pay", data={"plan": paid.id}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Tenant, shop.id).status == "active"
    assert client_for("founder.localhost").get("/").status_code == 200


def test_with_approval_the_shop_waits_for_the_parent(master, client_for):
    plan = free_plan(master)
    open_signups(master, "approval", [plan])
    answer = client_for("master.localhost").post("/open-shop", data=form())
    assert answer.status_code == 303
    shop = db.session.scalar(select(Tenant).where(Tenant.slug == "founder"))
    assert shop.status == "pending"
    assert client_for("founder.localhost").get("/").status_code == 503
    assert client_for("founder.localhost").get("/register").status_code == 503
    # its owner can sign in to its back office meanwhile
    new_host, landed = follow_handover(client_for, answer)
    assert new_host.get("/admin/").status_code == 200
    openshop.approve(master, shop.id)
    db.session.expire_all()
    assert db.session.get(Tenant, shop.id).status == "active"


def test_closed_sign_ups_show_a_friendly_page_and_refuse_posts(master, client_for):
    plan = free_plan(master)
    site = client_for("master.localhost")
    page = site.get("/open-shop")
    assert "does not take new shops" in page.get_data(as_text=True)
    before = counts()
    assert site.post("/open-shop", data=form(plan=str(plan.id))).status_code == 200
    assert counts() == before


@pytest.mark.parametrize("overrides, field_message", [
    ({"slug": "ab"}, "3–32 lower-case"),
    ({"slug": "Bad_Slug"}, "3–32 lower-case"),
    ({"slug": "-abc"}, "3–32 lower-case"),
    ({"slug": "x" * 33}, "3–32 lower-case"),
    ({"slug": "admin"}, "reserved"),
    ({"slug": "open-shop"}, "reserved"),
    ({"slug": "www"}, "reserved"),
    ({"slug": "master"}, "taken"),
    ({"password": "short1"}, "10 to 128"),
    ({"password": "onlyletterspassword"}, "Mix letters"),
    ({"password": "founder-2026x"}, "e-mail address or shop name"),
    ({"email": "not-an-address"}, "e-mail"),
    ({"shop_name": ""}, "Give your shop a name"),
    ({"plan": "999999"}, "not offered"),
])
def test_bad_input_answers_422_next_to_the_field_and_writes_nothing(
        master, client_for, overrides, field_message):
    plan = free_plan(master)
    open_signups(master, plan_list=[plan])
    before = counts()
    answer = client_for("master.localhost").post("/open-shop", data=form(**overrides))
    assert answer.status_code == 422
    body = answer.get_data(as_text=True)
    assert field_message.lower() in body.lower()
    assert 'class="error"' in body
    assert counts() == before


def test_one_email_opens_one_shop_per_parent_and_a_form_is_sent_once(master, client_for):
    plan = free_plan(master)
    open_signups(master, plan_list=[plan])
    site = client_for("master.localhost")
    form_id = "f" * 24
    assert site.post("/open-shop", data=form(form_id=form_id)).status_code == 303
    before = counts()
    # the same form posted again (a double click): refused, nothing more written
    twice = site.post("/open-shop", data=form(form_id=form_id, slug="founder-two"))
    assert twice.status_code == 422
    assert "sent already" in twice.get_data(as_text=True)
    # the same address again, in a new form
    again = site.post("/open-shop", data=form(slug="founder-two"))
    assert again.status_code == 422
    assert "opened a shop here already" in again.get_data(as_text=True)
    assert counts() == before


def test_the_slug_check_answers_json(master, client_for):
    site = client_for("master.localhost")
    assert site.get("/open-shop/slug?slug=fresh-name").get_json() == {
        "slug": "fresh-name", "available": True, "message": "This name is free."}
    taken = site.get("/open-shop/slug?slug=master").get_json()
    assert taken["available"] is False and "taken" in taken["message"]
    assert site.get("/open-shop/slug?slug=api").get_json()["available"] is False
    assert site.get("/open-shop/slug?slug=a_b").get_json()["available"] is False


@pytest.mark.app_config(SLUG_CHECK_RATE_LIMIT="3 per minute")
def test_the_slug_check_is_rate_limited_per_client(master, client_for):
    site = client_for("master.localhost")
    for n in range(3):
        assert site.get(f"/open-shop/slug?slug=name-{n}").status_code == 200
    assert site.get("/open-shop/slug?slug=name-9").status_code == 429


def test_an_expired_hand_over_link_goes_to_the_login_page(master, client_for):
    plan = free_plan(master)
    open_signups(master, plan_list=[plan])
    answer = client_for("master.localhost").post("/open-shop", data=form())
    db.session.execute(update(LoginHandover).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    url = urlsplit(answer.headers["Location"])
    client = client_for(url.hostname)
    landed = client.get(url.path)
    assert landed.status_code == 303 and "/login" in landed.headers["Location"]
    assert client.get("/admin/").status_code == 302  # not signed in
    # a link is good on its own shop's host only
    other = client_for("master.localhost").get(url.path)
    assert other.status_code == 303 and "/login" in other.headers["Location"]


def test_a_sign_up_on_a_sub_shop_opens_a_shop_below_it(master, client_for):
    from kameng.tenants import services

    plan = plans.create_plan(master, "reseller", "Reseller", 0, sub_shops=True)
    star = services.create_tenant("star", "Star", "master", theme="classic")
    services.create_user(star, "owner@star.test", "owner", "correct-horse")
    plans.grant_plan(star, plan.id)
    resold = plans.create_plan(star, "star-free", "Star free", 0, base_plan_id=plan.id)
    open_signups(star, plan_list=[resold])
    assert client_for("star.localhost").post(
        "/open-shop", data=form(theme="midnight")).status_code == 303
    shop = db.session.scalar(select(Tenant).where(Tenant.slug == "founder"))
    assert shop.parent_id == star.id and shop.depth == 2 and shop.theme == "midnight"
    assert plans.subscription_of(shop).plan_id == resold.id


@pytest.mark.both
def test_two_concurrent_sign_ups_for_one_slug_open_one_shop(master, app, backend):
    plan = free_plan(master)
    open_signups(master, plan_list=[plan])
    master_id = master.id
    db.session.commit()  # SQLite: the test's own session holds no lock while they race
    results, barrier = [], threading.Barrier(2)

    def sign_up(n):
        with app.app_context():
            parent = db.session.get(Tenant, master_id)
            req = openshop.SignupRequest(email=f"racer{n}@example.com", password=GOOD_PASSWORD,
                                         shop_name=f"Racer {n}", slug="same-slug")
            db.session.commit()  # SQLite: no write lock held while waiting for the other
            barrier.wait()
            try:
                openshop.open_shop(parent, req)
                results.append("ok")
            except Exception as err:  # noqa: BLE001 - the loser's refusal is the point
                results.append(getattr(err, "field", repr(err)))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["ok", "slug"], results
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Tenant)
                             .where(Tenant.slug == "same-slug")) == 1
    assert db.session.scalar(select(func.count()).select_from(User)
                             .where(User.email.like("racer%"))) == 1


def test_a_theme_the_plan_does_not_include_is_refused(master, client_for):
    plan = plans.create_plan(master, "classic-only", "Classic only", 0, themes=["classic"])
    open_signups(master, plan_list=[plan])
    before = counts()
    site = client_for("master.localhost")
    refused = site.post("/open-shop", data=form(theme="midnight"))
    assert refused.status_code == 422
    assert "themes your plan includes" in refused.get_data(as_text=True)
    assert counts() == before
    assert site.post("/open-shop", data=form(theme="classic")).status_code == 303


def test_a_pending_shop_pays_its_plan_by_card_and_opens(master, client_for, app, stripe_fake):
    app.config.update(stripe_fake.app_config())
    paid = plans.create_plan(master, "pro", "Pro", 9900, sub_shops=True)
    open_signups(master, plan_list=[paid])
    answer = client_for("master.localhost").post("/open-shop", data=form(plan=str(paid.id)))
    new_host, _landed = follow_handover(client_for, answer)
    page = new_host.get("/admin/plans").get_data(as_text=True)
    assert "data-plan-card" in page and stripe_fake.js_url in page
    paying = new_host.post("/admin/plans/pay-card", data={
        "plan": paid.id, "payment_method": stripe_fake.card_payment_method()})
    assert paying.status_code == 302
    db.session.expire_all()
    shop = db.session.scalar(select(Tenant).where(Tenant.slug == "founder"))
    assert shop.status == "active"
    assert db.session.scalar(select(PlanPayment).where(PlanPayment.tenant_id == shop.id)
                             ).method == "card"


def test_a_shop_opened_on_the_demo_master_sells_its_catalog_to_a_guest(app, client_for):
    from kameng import demo
    from kameng.sales import services as orders
    from kameng.shop.pricing.services import price_for, wholesale_for

    demo.seed()
    master = db.session.scalar(select(Tenant).where(Tenant.slug == "master"))
    assert openshop.takes_signups(master)
    answer = client_for("master.localhost").post("/open-shop", data=form())
    assert answer.status_code == 303
    shop = db.session.scalar(select(Tenant).where(Tenant.slug == "founder"))
    assert shop.status == "active"
    from kameng.shop.catalog.services import product_by_sku

    product = product_by_sku("NETEASE-50")
    # the demo's default markup for new shops: 10 % on its cost (the master's wholesale)
    cost = wholesale_for(master, product)
    assert price_for(shop, product) == cost + cost // 10
    storefront = client_for("founder.localhost")
    assert storefront.get("/p/NETEASE-50").status_code == 200
    placed = orders.place_order(shop, sku="NETEASE-50", contact="guest@example.com",
                                lookup_password="pw-123456", payment_method="epay")
    assert placed.order.amount == price_for(shop, product)
