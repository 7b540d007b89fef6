"""Accounts belong to one shop; sessions are per host; forms carry CSRF; login is rate-limited."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from kameng.core.extensions import db
from kameng.core.scoping import TenantScopeError, reset_scope, set_scope, tenant_scope
from kameng.tenants.models import User
from tests.fakes.smtp import confirmation_link, smtp  # noqa: F401  (fixture)
from tests.helpers import PASSWORD, login

pytestmark = pytest.mark.both


def test_login_on_own_shop_only(app, tree, client_for):
    star = client_for("star.localhost")
    assert login(star, "owner@star.test").status_code == 302
    assert star.get("/admin/").status_code == 200
    rocket = client_for("rocket.localhost")
    resp = login(rocket, "owner@star.test")
    assert resp.status_code == 200 and "/admin" not in resp.headers.get("Location", "")
    assert rocket.get("/admin/").status_code == 302  # sent to the login page


def test_session_cookie_is_host_only_and_bound_to_its_tenant(app, tree, client_for):
    star = client_for("star.localhost")
    resp = login(star, "owner@star.test")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Domain=" not in cookie
    # replaying star's session cookie on rocket's host does not log anyone in there
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    rocket = client_for("rocket.localhost")
    rocket.set_cookie("session", value, domain="rocket.localhost")
    assert rocket.get("/admin/").status_code == 302


def test_customer_cannot_open_back_office(app, tree, client_for):
    star = client_for("star.localhost")
    login(star, "buyer@star.test")
    assert star.get("/admin/").status_code == 403


def test_same_email_on_two_shops_is_two_accounts(app, tree, client_for):
    from kameng.tenants import services

    services.create_user(tree.rocket, "buyer@star.test", "customer", "another-password")
    assert login(client_for("star.localhost"), "buyer@star.test").status_code == 302
    assert login(client_for("rocket.localhost"), "buyer@star.test").status_code == 200
    assert login(client_for("rocket.localhost"), "buyer@star.test",
                 "another-password").status_code == 302


def _sign_up(client, email, password="12345678x"):
    return client.post("/register", data={"email": email, "password": password,
                                          "confirm": password, "display_name": "N"})


def test_register_creates_customer_of_this_shop_once_its_mail_is_confirmed(
        app, tree, client_for, smtp):
    star = client_for("star.localhost")
    resp = _sign_up(star, "new@buyer.cn")
    assert resp.status_code == 200
    user = db.session.scalar(select(User).where(User.email == "new@buyer.cn"))
    assert user.tenant_id == tree.star.id and user.role == "customer" and not user.is_active
    assert login(star, "new@buyer.cn", "12345678x").status_code == 200   # not yet
    [(rcpt, message)] = smtp.messages
    assert rcpt == ["new@buyer.cn"]
    link = confirmation_link(message)
    assert link.startswith("http://star.localhost/register/confirm/")
    path = link.removeprefix("http://star.localhost")
    assert client_for("rocket.localhost").get(path).status_code == 400   # another shop's
    confirmed = star.get(path)
    assert confirmed.status_code == 302
    assert star.get("/account/wallet").status_code == 200                 # signed in
    db.session.expire_all()
    assert db.session.get(User, user.id).is_active
    assert client_for("star.localhost").get(path).status_code == 400    # a link works once
    assert login(client_for("star.localhost"), "new@buyer.cn", "12345678x").status_code == 302


def _page(resp) -> str:
    """The page without its per-response CSRF tokens."""
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]*', r"\1", resp.text)


def test_sign_up_answers_the_same_for_a_taken_and_a_free_address(app, tree, client_for,
                                                                 smtp):
    """The page never tells whether an address has an account; the mailbox's owner learns."""
    taken = _sign_up(client_for("star.localhost"), "buyer@star.test", "some-other-pass")
    free = _sign_up(client_for("star.localhost"), "fresh@star.test", "some-other-pass")
    assert taken.status_code == free.status_code == 200
    assert _page(taken) == _page(free)
    assert "mailbox" in free.text.lower() or "邮箱" in free.text
    assert sorted(taken.headers.keys()) == sorted(free.headers.keys())
    # no duplicate, and the existing account keeps its password
    assert db.session.scalar(select(func.count()).select_from(User)
                             .where(User.email == "buyer@star.test")
                             .execution_options(all_tenants=True)) == 1
    assert login(client_for("star.localhost"), "buyer@star.test").status_code == 302
    assert login(client_for("star.localhost"), "buyer@star.test",
                 "some-other-pass").status_code == 200
    mails = {tuple(rcpt): message for rcpt, message in smtp.messages}
    assert set(mails) == {("buyer@star.test",), ("fresh@star.test",)}
    assert "/register/confirm/" not in mails[("buyer@star.test",)].get_content()
    assert "/login" in mails[("buyer@star.test",)].get_content()
    assert "/register/confirm/" in mails[("fresh@star.test",)].get_content()


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_forms_require_csrf_token(app, tree, client_for):
    star = client_for("star.localhost")
    resp = star.post("/login", data={"email": "owner@star.test", "password": PASSWORD})
    assert resp.status_code == 400
    page = star.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    resp = star.post("/login", data={"email": "owner@star.test", "password": PASSWORD,
                                     "csrf_token": token})
    assert resp.status_code == 302


@pytest.mark.app_config(LOGIN_RATE_LIMIT="3 per minute")
def test_login_is_rate_limited_per_shop_and_address(app, tree, client_for, redis_client):
    star = client_for("star.localhost")
    for _ in range(3):
        assert login(star, "owner@star.test", "wrong-password").status_code == 200
    assert login(star, "owner@star.test", PASSWORD).status_code == 429
    # the limit lives in Redis, shared by every web process
    assert any(b"LIMITER" in k or b"limiter" in k.lower() for k in redis_client.keys("*"))
    # another shop's login is counted separately
    assert login(client_for("rocket.localhost"), "owner@rocket.test").status_code == 302


def test_tenant_scoped_queries(app, tree):
    with tenant_scope(tree.star.id):
        emails = set(db.session.scalars(select(User.email)))
    assert emails == {"owner@star.test", "buyer@star.test"}
    token = set_scope(None)
    try:
        with pytest.raises(TenantScopeError):
            db.session.scalars(select(User)).all()
    finally:
        reset_scope(token)
