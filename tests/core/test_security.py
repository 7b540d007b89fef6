"""What every answer carries: the client's real address behind a trusted proxy, security
headers on every route, no-store on pages that show codes, Secure cookies, and sessions
that end everywhere on logout and on a new password."""
from __future__ import annotations

import pytest

from kameng.core.config import load_config
from kameng.sales import services as sales
from kameng.shop.stock import services as stock
from kameng.tenants import services as tenants
from kameng.tenants.i18n import COOKIE
from tests.api.helpers import api_account, auth
from tests.helpers import PASSWORD, login
from tests.orders.helpers import card_product
from tests.orders.test_lookup import delivered_guest_order, post_lookup

STAR = "star.localhost"


def behind_proxy(client, address: str):
    """``client`` as seen through the reverse proxy: it appends the client's address."""
    client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    return client


# ----- trusted proxies --------------------------------------------------------------------

@pytest.mark.app_config(LOGIN_RATE_LIMIT="3 per minute", TRUSTED_PROXIES=1)
def test_behind_a_trusted_proxy_one_clients_failed_logins_lock_out_only_that_client(
        app, tree, client_for):
    mallory = behind_proxy(client_for(STAR), "203.0.113.5")
    alice = behind_proxy(client_for(STAR), "198.51.100.7")
    for _ in range(3):
        assert login(mallory, "owner@star.test", "wrong-password").status_code == 200
    assert login(mallory, "owner@star.test").status_code == 429
    assert login(alice, "owner@star.test").status_code == 302
    # the proxy's own scheme header counts too: the answer carries HSTS
    secure = alice.get("/", headers={"X-Forwarded-Proto": "https"})
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.app_config(LOGIN_RATE_LIMIT="3 per minute")
def test_without_trusted_proxies_a_client_cannot_choose_its_address(app, tree, client_for):
    mallory = behind_proxy(client_for(STAR), "203.0.113.5")
    for _ in range(3):
        assert login(mallory, "owner@star.test", "wrong-password").status_code == 200
    # a fresh X-Forwarded-For does not escape the limit: the header is not read at all
    escaped = behind_proxy(client_for(STAR), "198.51.100.7")
    assert login(escaped, "owner@star.test").status_code == 429
    assert "Strict-Transport-Security" not in escaped.get(
        "/", headers={"X-Forwarded-Proto": "https"}).headers


# ----- security headers on every route ----------------------------------------------------

def assert_security_headers(resp, where):
    headers = resp.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", where
    csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'", where
    assert "'unsafe-inline'" not in csp["script-src"] and "*" not in csp["script-src"], where
    assert "'unsafe-eval'" not in csp["script-src"], where
    assert "Strict-Transport-Security" not in headers, where  # plain http


def get_routes(app, values: dict):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods:
            continue
        args = {name: values.get((rule.endpoint, name), values.get(name, 1))
                for name in rule.arguments}
        with app.test_request_context():
            from flask import url_for

            yield url_for(rule.endpoint, **args)


def test_every_get_route_answers_with_the_security_headers(app, tree, client_for):
    product = card_product(codes=3)
    order = delivered_guest_order(tree.star, product)
    batch = stock.import_codes(product, text="EXTRA-1\nEXTRA-2")
    values = {"order_no": order.order_no, "sku": product.sku, "product_id": product.id,
              "batch_id": batch.batch_id,
              "category_id": product.category_id or 1, "user_id": tree.star_customer.id,
              "code": "en", ("auth.theme_static", "filename"): "theme.css",
              ("admin.static", "filename"): "admin.js"}
    anonymous = client_for(STAR)
    assert post_lookup(anonymous, order.order_no).status_code == 302
    owner, master = client_for(STAR), client_for("master.localhost")
    login(owner, "owner@star.test")
    login(master, "owner@master.test")
    checked = 0
    for path in get_routes(app, values):
        for who, client in (("anonymous", anonymous), ("star owner", owner),
                            ("master owner", master)):
            resp = client.get(path)
            assert resp.status_code < 500, (who, path, resp.status_code)
            assert_security_headers(resp, (who, path))
            checked += 1
    assert checked > 150
    # the pages really render, not only redirect: the back office and the order
    assert owner.get("/admin/").status_code == 200
    assert anonymous.get(f"/o/{order.order_no}").status_code == 200


def test_hsts_only_over_https(app, tree, client_for):
    client = client_for(STAR)
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", base_url=f"https://{STAR}")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


# ----- no-store where codes can show ------------------------------------------------------

def test_pages_that_can_show_codes_are_never_stored(app, tree, client_for):
    product = card_product(codes=3)
    order = delivered_guest_order(tree.star, product)
    code = sales.order_codes(order)[0]
    buyer = client_for(STAR)
    assert buyer.get("/lookup").headers["Cache-Control"] == "no-store"
    found = post_lookup(buyer, order.order_no)
    assert found.headers["Cache-Control"] == "no-store"
    page = buyer.get(f"/o/{order.order_no}")
    assert code in page.text and page.headers["Cache-Control"] == "no-store"

    owner = client_for(STAR)
    login(owner, "owner@star.test")
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    for client, path in ((owner, f"/admin/orders/{order.order_no}"), (owner, "/admin/orders"),
                         (master, "/admin/stock/"), (master, f"/admin/stock/products/{product.id}")):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store", path
    shopper = client_for(STAR)
    login(shopper, "buyer@star.test")
    assert shopper.get("/account/orders").headers["Cache-Control"] == "no-store"

    _user, key = api_account(tree.star, "bot@star.test", funds=10_000)
    api = client_for(STAR)
    made = api.post("/api/v1/orders", json={"sku": product.sku, "quantity": 1},
                    headers=auth(key, **{"Idempotency-Key": "k-1"}))
    assert made.status_code in (200, 201) and made.headers["Cache-Control"] == "no-store"
    seen = api.get(f"/api/v1/orders/{made.json['order_no']}", headers=auth(key))
    assert seen.headers["Cache-Control"] == "no-store"


# ----- Secure cookies ---------------------------------------------------------------------

def test_secure_cookies_follow_the_base_url_scheme_unless_set(tmp_path):
    def cookies(**env):
        cfg = load_config({"INSTANCE_PATH": str(tmp_path)},
                          environ={f"KAMENG_{k}": v for k, v in env.items()})
        return cfg["SESSION_COOKIE_SECURE"], cfg["REMEMBER_COOKIE_SECURE"]

    assert cookies() == (False, False)
    assert cookies(PREFERRED_URL_SCHEME="https") == (True, True)
    assert cookies(PREFERRED_URL_SCHEME="https", SECURE_COOKIES="0") == (False, False)
    assert cookies(SECURE_COOKIES="1") == (True, True)


@pytest.mark.app_config(SECURE_COOKIES=True)
def test_with_secure_cookies_the_session_cookie_is_secure(app, tree, client_for):
    client = client_for(STAR)
    resp = client.post("/login", data={"email": "owner@star.test", "password": PASSWORD},
                       base_url=f"https://{STAR}")
    assert resp.status_code == 302
    set_cookies = resp.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in set_cookies if c.startswith("session="))
    assert "; Secure" in session_cookie and "HttpOnly" in session_cookie
    answer = client.get("/lang/en", base_url=f"https://{STAR}")
    lang = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}="))
    assert "; Secure" in lang


def test_by_default_over_http_the_session_cookie_is_not_secure(app, tree, client_for):
    resp = login(client_for(STAR), "owner@star.test")
    assert "Secure" not in resp.headers["Set-Cookie"]


# ----- sessions end everywhere ------------------------------------------------------------

def copy_session(source, target):
    value = source.get_cookie("session", domain=STAR).value
    target.set_cookie("session", value, domain=STAR)
    return target


@pytest.mark.both
def test_a_session_cookie_copied_before_logout_no_longer_works_after_it(app, tree, client_for):
    owner = client_for(STAR)
    assert login(owner, "owner@star.test").status_code == 302
    thief = copy_session(owner, client_for(STAR))
    other_device = client_for(STAR)
    login(other_device, "owner@star.test")
    assert thief.get("/admin/").status_code == 200  # the copy works while the session does

    assert owner.post("/logout").status_code == 302
    assert thief.get("/admin/").status_code == 302  # sent to the login page
    assert other_device.get("/admin/").status_code == 302  # every session of that user
    # signing in again works, with a fresh session
    assert login(owner, "owner@star.test").status_code == 302
    assert owner.get("/admin/").status_code == 200


def test_a_new_password_ends_every_session_of_that_user(app, tree, client_for, cli):
    owner, customer = client_for(STAR), client_for(STAR)
    login(owner, "owner@star.test")
    login(customer, "buyer@star.test")
    tenants.set_password(tenants.user_by_email(tree.star, "owner@star.test"), "a-new-password")
    assert owner.get("/admin/").status_code == 302
    assert customer.get("/account/orders").status_code == 200  # another user: untouched
    assert login(owner, "owner@star.test").status_code == 200  # the old password is gone
    assert login(owner, "owner@star.test", "a-new-password").status_code == 302

    # the operator's command does the same
    result = cli("users", "set-password", "--tenant", "star", "--email", "buyer@star.test",
                 "--password", "another-password")
    assert result.exit_code == 0, result.output
    assert customer.get("/account/orders").status_code == 302
    assert login(customer, "buyer@star.test", "another-password").status_code == 302
    short = cli("users", "set-password", "--tenant", "star", "--email", "buyer@star.test",
                "--password", "short")
    assert short.exit_code != 0
