"""A request checks that its per-process caches are still valid in ONE Redis round trip
(``kameng.core.generations``): the host cache's generation, the price versions, the
catalog's shown counter and the API keys' generation are read together; a request
without a session may even reuse what its process read a moment ago — and a change
made through another instance of the platform is still served within a second."""
from __future__ import annotations

import time

import pytest
import redis

from kameng.core.extensions import db
from kameng.core.money import format_money
from kameng.shop.pricing import services as pricing
from tests.api.helpers import api_account, auth
from tests.conftest import host_client
from tests.helpers import PASSWORD, login
from tests.storefront.catalog import make_catalog

pytestmark = [pytest.mark.app_config(PAGE_CACHE_SECONDS=300, FRAGMENT_CACHE_SECONDS=300)]

STAR = "star.localhost"


@pytest.fixture
def shop(tree):
    return make_catalog(tree)


@pytest.fixture
def round_trips(monkeypatch):
    """Every Redis round trip made meanwhile: a command, or a whole pipeline."""
    seen: list[str] = []
    plain, piped = redis.Redis.execute_command, redis.client.Pipeline.execute

    def command(self, *args, **options):
        seen.append(str(args[0]))
        return plain(self, *args, **options)

    def pipeline(self, *args, **kwargs):
        seen.append("PIPELINE")
        return piped(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline)
    return seen


def _get(client, path, seen, **kwargs):
    seen.clear()
    resp = client.get(path, **kwargs)
    assert resp.status_code == 200, path
    return resp, list(seen)


@pytest.mark.both
@pytest.mark.app_config(GENERATION_REUSE_MS=0)
def test_a_storefront_page_costs_one_round_trip(app, tree, shop, client_for, round_trips):
    visitor, buyer = client_for(STAR), client_for(STAR)
    login(buyer, tree.star_customer.email, PASSWORD)
    for path in ("/", f"/c/{shop.games.id}", "/p/QB-10"):
        for client in (visitor, buyer):
            _get(client, path, round_trips)   # the host's counters are learned
            # the anonymous page cache, or the fragments of a signed-in buyer's page:
            # every version they are keyed on comes from one MGET
            _resp, seen = _get(client, path, round_trips)
            assert seen == ["MGET"], (path, seen)


@pytest.mark.both
@pytest.mark.app_config(GENERATION_REUSE_MS=600_000)   # a window no test run outlasts
def test_a_request_without_a_session_may_reuse_recent_counters(app, tree, shop, client_for,
                                                               round_trips):
    visitor, buyer = client_for(STAR), client_for(STAR)
    login(buyer, tree.star_customer.email, PASSWORD)
    for path in ("/", f"/c/{shop.games.id}"):
        _get(visitor, path, round_trips)
        assert _get(visitor, path, round_trips)[1] == [], path
        # a signed-in buyer (or an owner who just saved a change) always reads afresh
        assert _get(buyer, path, round_trips)[1] == ["MGET"], path
    # a change made by this process is seen by its next request, window or not
    before = _get(visitor, "/", round_trips)[0].get_data(as_text=True)
    pricing.set_markup(tree.star, kind="percent", value=5000, level="shop", wholesale=False)
    resp, seen = _get(visitor, "/", round_trips)
    assert "MGET" in seen and resp.get_data(as_text=True) != before


@pytest.mark.both
@pytest.mark.app_config(GENERATION_REUSE_MS=0)
def test_an_api_request_checks_its_caches_in_one_round_trip(app, tree, shop, client_for,
                                                            round_trips):
    _user, key = api_account(tree.star, "bot@star.test", funds=500)
    client = client_for(STAR)
    for path in ("/api/v1/balance", "/api/v1/products"):
        _get(client, path, round_trips, headers=auth(key))
        _resp, seen = _get(client, path, round_trips, headers=auth(key))
        # the counters (host, API keys, prices) and the rate limit's own pipeline
        assert sorted(seen) == ["MGET", "PIPELINE"], (path, seen)


# PostgreSQL only: two instances writing one SQLite file lock each other out
def test_a_change_through_another_instance_is_served_within_a_second(app, tree, shop,
                                                                     client_for, second_app):
    one, two = client_for(STAR), host_client(second_app, STAR)
    buyer = client_for(STAR)
    login(buyer, tree.star_customer.email, PASSWORD)
    before = one.get("/").get_data(as_text=True)
    assert two.get("/").status_code == 200
    one.get("/")   # kept by both instances now
    assert buyer.get("/").status_code == 200

    with second_app.app_context():   # the other instance changes the shop's prices
        from kameng.tenants.models import Tenant

        star = db.session.get(Tenant, tree.star.id)
        pricing.set_markup(star, kind="percent", value=5000, level="shop", wholesale=False)
        db.session.remove()
    price = format_money(pricing.price_for(tree.star, shop.qb), "CNY", locale="zh_CN")

    # a request with a session reads the counters afresh: at once
    assert price in buyer.get("/").get_data(as_text=True)
    # one without may reuse what its process read less than GENERATION_REUSE_MS ago
    assert app.config["GENERATION_REUSE_MS"] <= 250
    time.sleep(app.config["GENERATION_REUSE_MS"] / 1000 + 0.05)
    after = one.get("/").get_data(as_text=True)
    assert after != before and price in after and price not in before
    assert two.get("/").get_data(as_text=True) == after
