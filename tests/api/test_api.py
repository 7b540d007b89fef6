"""The docking API: every endpoint, every error code, idempotency, delivery of codes."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from kameng.billing.wallets import wallet_balance
from kameng.core.extensions import db
from kameng.core.scoping import tenant_scope
from kameng.sales.fulfilment import fulfil
from kameng.sales.models import Order
from kameng.shop.catalog import services as catalog
from kameng.shop.pricing.services import price_for
from kameng.tenants.api_keys import create_key, revoke_key
from tests.api.helpers import api_account, assert_problem, auth, order
from tests.orders.helpers import card_product

pytestmark = pytest.mark.both

STAR = "star.localhost"


@pytest.fixture
def star_api(app, tree, client_for):
    user, key = api_account(tree.star, "bot@star.test", funds=10_000)
    return user, key, client_for(STAR)


def _deliver(tenant, order_no):
    with tenant_scope(tenant.id):
        found = db.session.scalar(select(Order).where(Order.order_no == order_no))
        return fulfil(found.id).status


def test_products_list_this_accounts_prices_and_stock(app, tree, star_api):
    user, key, client = star_api
    card = card_product("GAME-100", codes=3, fields=[
        {"name": "account", "label": "QQ", "type": "qq", "required": False}])
    card_product("EMPTY-1", codes=0)
    catalog.create_product(sku="TOP-1", name="Top-up", kind="topup", supplier_cost=100,
                           wholesale_price=200, retail_price=300)
    resp = client.get("/api/v1/products", headers=auth(key))
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    rows = {p["sku"]: p for p in resp.json}
    assert set(rows) == {"GAME-100", "EMPTY-1", "TOP-1"}
    game = rows["GAME-100"]
    assert game["price"] == price_for(tree.star, card, user) and isinstance(game["price"], int)
    assert game["currency"] == tree.star.currency and game["kind"] == "card"
    assert game["in_stock"] is True and game["name"] == card.name
    assert game["fields"][0]["name"] == "account" and game["fields"][0]["type"] == "qq"
    assert rows["EMPTY-1"]["in_stock"] is False
    assert rows["TOP-1"]["in_stock"] is True and rows["TOP-1"]["kind"] == "topup"


def test_order_is_paid_from_the_wallet_and_codes_come_after_fulfilment(app, tree, star_api):
    user, key, client = star_api
    product = card_product("GAME-100", codes=5)
    price = price_for(tree.star, product, user)
    resp = order(client, key, "GAME-100", "o-1", quantity=2)
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert set(body) >= {"order_no", "status", "amount", "currency"}
    assert body["amount"] == 2 * price and body["currency"] == tree.star.currency
    assert body["status"] in ("paid", "fulfilling", "delivered")
    assert resp.headers["Location"].endswith(f"/api/v1/orders/{body['order_no']}")
    assert client.get("/api/v1/balance", headers=auth(key)).json == {
        "balance": 10_000 - 2 * price, "currency": tree.star.currency}

    before = client.get(f"/api/v1/orders/{body['order_no']}", headers=auth(key)).json
    assert before["codes"] == [] and before["status"] != "delivered"
    assert _deliver(tree.star, body["order_no"]) == "delivered"
    after = client.get(f"/api/v1/orders/{body['order_no']}", headers=auth(key))
    assert after.status_code == 200 and after.headers["Cache-Control"] == "no-store"
    assert after.json["status"] == "delivered" and after.json["amount"] == 2 * price
    assert len(after.json["codes"]) == 2
    assert all(c.startswith("GAME-100-CODE-") for c in after.json["codes"])


def test_a_real_worker_delivers_what_the_api_sold(app, tree, star_api):
    from kameng.workers.runner import run_worker

    _user, key, client = star_api
    card_product("GAME-100", codes=2)
    order_no = order(client, key, "GAME-100", "w-1").json["order_no"]
    db.session.commit()
    run_worker(app, burst=True)  # the order was queued by the API's outbox dispatch
    got = client.get(f"/api/v1/orders/{order_no}", headers=auth(key)).json
    assert got["status"] == "delivered" and len(got["codes"]) == 1


def test_same_idempotency_key_returns_the_same_order_and_charges_once(app, tree, star_api):
    user, key, client = star_api
    card_product("GAME-100", codes=5)
    first = order(client, key, "GAME-100", "same-key")
    again = order(client, key, "GAME-100", "same-key")
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    assert wallet_balance(user) == 10_000 - first.json["amount"]
    # the key names one order: reusing it for something else is refused, not ignored
    other = order(client, key, "GAME-100", "same-key", quantity=2)
    assert_problem(other, 422, "idempotency_key_reused", "idempotency_key")
    assert wallet_balance(user) == 10_000 - first.json["amount"]


def test_an_idempotency_key_reused_with_other_fields_is_refused_not_replayed(app, tree,
                                                                            star_api):
    """The key names one request body: other buyer fields (another account to top up)
    must not silently get the earlier order back."""
    user, key, client = star_api
    card_product("QQ-10", codes=5, fields=[
        {"name": "account", "label": "QQ", "type": "qq", "required": True}])
    first = order(client, key, "QQ-10", "fields-key", fields={"account": "12345678"})
    assert first.status_code == 201
    for body in ({"fields": {"account": "87654321"}}, {"quantity": 2},
                 {"sku": "GAME-100"}, {"fields": {}}):
        args = {"sku": "QQ-10", "quantity": 1, "fields": {"account": "12345678"}, **body}
        other = order(client, key, args["sku"], "fields-key", quantity=args["quantity"],
                      fields=args["fields"])
        assert_problem(other, 422, "idempotency_key_reused", "idempotency_key")
        assert first.json["order_no"] in other.json["title"]
    # the same body (a number sent as a number, blanks around it) replays
    same = order(client, key, "QQ-10", "fields-key", fields={"account": " 12345678 "})
    assert same.status_code == 201 and same.json == first.json
    assert same.headers["Idempotent-Replayed"] == "true"
    assert order(client, key, "QQ-10", "fields-key",
                 fields={"account": 12345678}).json == first.json
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    assert wallet_balance(user) == 10_000 - first.json["amount"]


def test_a_retry_after_the_product_sold_out_still_gets_its_order(app, tree, star_api):
    user, key, client = star_api
    product = card_product("LAST-ONE", codes=1)
    first = order(client, key, "LAST-ONE", "last-key")
    assert first.status_code == 201
    refused = order(client, key, "LAST-ONE", "another-key")
    assert_problem(refused, 409, "out_of_stock")
    db.session.get(type(product), product.id).status = "sold_out"  # the owner marks it
    db.session.commit()
    assert_problem(order(client, key, "LAST-ONE", "third-key"), 409, "out_of_stock")
    again = order(client, key, "LAST-ONE", "last-key")   # the client never saw the answer
    assert again.status_code == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert wallet_balance(user) == 10_000 - first.json["amount"]


def test_concurrent_requests_with_one_idempotency_key_make_one_order(app, tree, star_api,
                                                                       client_for):
    user, key, _client = star_api
    card_product("GAME-100", codes=10)
    answers, barrier = [], threading.Barrier(8)

    def buy():
        with app.app_context():
            client = client_for(STAR)
            barrier.wait()
            resp = order(client, key, "GAME-100", "race-key")
            answers.append((resp.status_code, resp.json.get("order_no")))

    threads = [threading.Thread(target=buy) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {status for status, _ in answers} == {201}
    assert len({no for _, no in answers}) == 1
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    amount = db.session.scalar(select(Order.amount))
    assert wallet_balance(user) == 10_000 - amount


def test_idempotency_key_header_is_required(app, tree, star_api):
    _user, key, client = star_api
    card_product("GAME-100", codes=1)
    resp = client.post("/api/v1/orders", json={"sku": "GAME-100"}, headers=auth(key))
    assert_problem(resp, 422, "invalid_field", "idempotency_key")
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_bad_bodies_are_problems_naming_the_field(app, tree, star_api):
    user, key, client = star_api
    card_product("GAME-100", codes=3, fields=[
        {"name": "account", "label": "QQ", "type": "qq", "required": True}])
    headers = auth(key, **{"Idempotency-Key": "bad-1", "Content-Type": "application/json"})
    assert_problem(client.post("/api/v1/orders", data="{not json", headers=headers),
                   422, "invalid_field", "body")
    assert_problem(client.post("/api/v1/orders", data="[1, 2]", headers=headers),
                   422, "invalid_field", "body")
    assert_problem(order(client, key, "", "bad-2"), 422, "invalid_field", "sku")
    resp = client.post("/api/v1/orders", json={"sku": "GAME-100", "quantity": "2"},
                       headers=auth(key, **{"Idempotency-Key": "bad-3"}))
    assert_problem(resp, 422, "invalid_field", "quantity")
    assert_problem(order(client, key, "GAME-100", "bad-4", quantity=0), 422, "invalid_field",
                   "quantity")
    assert_problem(order(client, key, "GAME-100", "bad-5", fields={"account": "nope"}),
                   422, "invalid_field", "account")
    assert_problem(order(client, key, "GAME-100", "bad-6", fields=["x"]), 422, "invalid_field",
                   "fields")
    assert_problem(order(client, key, "NO-SUCH", "bad-7"), 404, "not_found")
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert wallet_balance(user) == 10_000
    ok = order(client, key, "GAME-100", "good-1", fields={"account": "12345678"})
    assert ok.status_code == 201


def test_out_of_stock_and_insufficient_balance(app, tree, star_api):
    user, key, client = star_api
    card_product("GAME-100", codes=1)
    assert_problem(order(client, key, "GAME-100", "oos", quantity=2), 409, "out_of_stock")
    _poor, poor_key = api_account(tree.star, "poor@star.test", funds=1)
    assert_problem(order(client, poor_key, "GAME-100", "poor"), 402, "insufficient_balance")
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert wallet_balance(user) == 10_000


def test_keys_are_refused_when_missing_wrong_revoked_or_from_another_shop(
        app, tree, star_api, client_for):
    user, key, client = star_api
    card_product("GAME-100", codes=3)
    assert_problem(client.get("/api/v1/balance"), 401, "unauthorized")
    resp = client.get("/api/v1/balance", headers={"Authorization": "Bearer km_not-a-key"})
    assert_problem(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(client.get("/api/v1/balance", headers={"Authorization": f"Basic {key}"}),
                   401, "unauthorized")
    # a key of star used on rocket's (or the master's) host
    for host in ("rocket.localhost", "master.localhost"):
        other = client_for(host)
        assert_problem(other.get("/api/v1/balance", headers=auth(key)), 401, "unauthorized")
        assert_problem(order(other, key, "GAME-100", "x-shop"), 401, "unauthorized")
    assert client.get("/api/v1/balance", headers=auth(key)).status_code == 200

    spare = create_key(user, "spare")
    revoke_key(user, spare.key.id)
    assert_problem(client.get("/api/v1/balance", headers=auth(spare.plaintext)), 401,
                   "unauthorized")
    assert_problem(order(client, spare.plaintext, "GAME-100", "revoked"), 401, "unauthorized")
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_another_customers_order_is_not_found(app, tree, star_api):
    _user, key, client = star_api
    card_product("GAME-100", codes=3)
    _other, other_key = api_account(tree.star, "other@star.test", funds=10_000)
    theirs = order(client, other_key, "GAME-100", "theirs").json["order_no"]
    _deliver(tree.star, theirs)
    assert_problem(client.get(f"/api/v1/orders/{theirs}", headers=auth(key)), 404, "not_found")
    assert_problem(client.get("/api/v1/orders/K000000NOSUCHORDER", headers=auth(key)), 404,
                   "not_found")
    assert client.get(f"/api/v1/orders/{theirs}", headers=auth(other_key)).status_code == 200


def test_balance(app, tree, star_api):
    _user, key, client = star_api
    assert client.get("/api/v1/balance", headers=auth(key)).json == {
        "balance": 10_000, "currency": tree.star.currency}
    _new, new_key = api_account(tree.star, "empty@star.test")
    assert client.get("/api/v1/balance", headers=auth(new_key)).json == {
        "balance": 0, "currency": tree.star.currency}


@pytest.mark.app_config(API_RATE_LIMIT="3 per minute")
def test_rate_limit_per_key(app, tree, star_api):
    _user, key, client = star_api
    _other, other_key = api_account(tree.star, "other@star.test")
    for left in (2, 1, 0):
        resp = client.get("/api/v1/balance", headers=auth(key))
        assert resp.status_code == 200
        assert resp.headers["X-RateLimit-Limit"] == "3"
        assert resp.headers["X-RateLimit-Remaining"] == str(left)
    refused = client.get("/api/v1/balance", headers=auth(key))
    assert_problem(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # counted per key, not per shop or address
    assert client.get("/api/v1/balance", headers=auth(other_key)).status_code == 200


def test_openapi_document(app, tree, client_for):
    doc = client_for(STAR).get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/products", "/orders", "/orders/{order_no}", "/balance"}
    codes = set(doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"])
    assert codes == {"out_of_stock", "insufficient_balance", "invalid_field", "unauthorized",
                     "not_found", "rate_limited", "idempotency_key_reused",
                     "coupon_unknown", "coupon_disabled", "coupon_not_yet_valid",
                     "coupon_expired", "coupon_used_up", "coupon_not_applicable",
                     "coupon_below_minimum", "busy"}
