"""Every request resolves its Host to exactly one tenant; unknown hosts get 404."""
from __future__ import annotations

import pytest

from kameng.tenants import services

pytestmark = [pytest.mark.both, pytest.mark.smoke]


def test_each_host_serves_its_own_shop(app, tree, client_for):
    for tenant in (tree.master, tree.star, tree.rocket):
        resp = client_for(f"{tenant.slug}.localhost").get("/")
        assert resp.status_code == 200
        assert tenant.name in resp.get_data(as_text=True)
    others = client_for("star.localhost").get("/").get_data(as_text=True)
    assert "Rocket Topups" not in others and "Master Shop" not in others


def test_unknown_host_is_404_and_names_no_tenant(app, tree, client_for):
    resp = client_for("nobody.localhost").get("/")
    assert resp.status_code == 404
    body = resp.get_data(as_text=True)
    for name in ("Master Shop", "Star Cards", "Rocket Topups", "master", "star"):
        assert name not in body


def test_host_matching_ignores_case_and_port(app, tree, client_for):
    resp = client_for("STAR.LocalHost:8080").get("/")
    assert resp.status_code == 200
    assert "Star Cards" in resp.get_data(as_text=True)


def test_unverified_custom_domain_is_404_until_verified(app, tree, client_for):
    services.add_domain("star", "cards.example.com")
    assert client_for("cards.example.com").get("/").status_code == 404
    services.verify_domain("cards.example.com")
    resp = client_for("cards.example.com").get("/")
    assert resp.status_code == 200 and "Star Cards" in resp.get_data(as_text=True)


def test_closed_shop_stops_routing(app, tree, client_for):
    tree.rocket.status = "closed"
    from kameng.core.extensions import db

    db.session.commit()
    assert client_for("rocket.localhost").get("/").status_code == 404


def test_health_answers_on_any_host(app, client_for):
    assert client_for("anything.invalid").get("/healthz").json == {"status": "ok"}


def test_an_unexpected_error_is_a_500_page_and_problem_json(app, tree, client_for):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom():
        raise RuntimeError("kaboom: internal detail")

    app.add_url_rule("/_boom", "boom", boom)
    app.add_url_rule("/api/v1/_boom", "api_boom", boom)
    client = client_for("star.localhost")
    page = client.get("/_boom")
    assert page.status_code == 500 and "kaboom" not in page.get_data(as_text=True)
    api = client.get("/api/v1/_boom")
    assert api.status_code == 500 and api.json["code"] == "internal_error"
    assert api.mimetype == "application/problem+json"
