"""The back office: /admin/prices and /admin/markup with its live preview."""
from __future__ import annotations

import pytest

from kameng.shop.pricing import services as pricing
from kameng.tenants import services as tenants
from tests.helpers import login
from tests.pricing.helpers import category, product

pytestmark = pytest.mark.both


@pytest.fixture
def catalog(app, tree):
    games = category("Games")
    steam = product("STEAM-50", 800, 1000, 1200, category=games, name="Steam <b>50</b>")
    phone = product("PHONE-10", 900, 950, 1000, name="话费 10")
    return {"games": games, "steam": steam, "phone": phone}


def owner_client(client_for, tree, slug="star"):
    client = client_for(f"{slug}.localhost")
    assert login(client, f"owner@{slug}.test").status_code == 302
    return client


def test_prices_page_shows_cost_price_and_margin(app, tree, catalog, client_for):
    pricing.set_markup(tree.star, kind="percent", value=1000)
    pricing.set_markup(tree.star, kind="fixed", value=20, wholesale=True)
    body = owner_client(client_for, tree).get("/admin/prices").get_data(as_text=True)
    assert "STEAM-50" in body and "话费 10" in body
    for amount in ("¥10.00", "¥10.20", "¥11.00", "¥1.00"):   # cost, wholesale, price, margin
        assert amount in body
    assert "Steam &lt;b&gt;50&lt;/b&gt;" in body and "<b>50</b>" not in body


def test_master_owner_sees_its_own_prices(app, tree, catalog, client_for):
    body = owner_client(client_for, tree, "master").get("/admin/prices").get_data(as_text=True)
    assert "¥8.00" in body and "¥12.00" in body and "¥4.00" in body


def test_only_the_owner_of_this_shop(app, tree, catalog, client_for):
    assert client_for("star.localhost").get("/admin/markup").status_code == 302
    customer = client_for("star.localhost")
    login(customer, "buyer@star.test")
    assert customer.get("/admin/prices").status_code == 403
    tenants.create_user(tree.star, "staff@star.test", "staff", "correct-horse")
    staff = client_for("star.localhost")
    login(staff, "staff@star.test")
    assert staff.get("/admin/markup").status_code == 403
    # the star owner's session does not open rocket's back office
    star_owner = owner_client(client_for, tree)
    assert star_owner.get("/admin/prices", base_url="http://rocket.localhost").status_code \
        in (302, 403)


def test_add_preview_and_delete_rules_without_js(app, tree, catalog, client_for):
    client = owner_client(client_for, tree)
    page = client.get("/admin/markup").get_data(as_text=True)
    assert "markup-form" in page and f'value="category:{catalog["games"].id}"' in page
    assert f'value="product:{catalog["steam"].id}"' in page

    form = {"target": f"product:{catalog['steam'].id}", "purpose": "retail",
            "kind": "percent", "value": "23.1", "rounding": "x9"}
    preview = client.post("/admin/markup", data={**form, "action": "preview"})
    assert preview.status_code == 200
    assert "¥12.39" in preview.get_data(as_text=True)
    assert pricing.list_markups(tree.star) == []            # a preview saves nothing

    saved = client.post("/admin/markup", data={**form, "action": "save"})
    assert saved.status_code == 302
    (rule,) = pricing.list_markups(tree.star)
    assert (rule.level, rule.kind, rule.value, rule.rounding) == ("product", "percent", 2310,
                                                                  "x9")
    assert pricing.price_for(tree.star, catalog["steam"]) == 1239
    assert "+23.1% (round x9)" in client.get("/admin/markup").get_data(as_text=True)

    client.get("/lang/en")  # service messages follow the page's locale; these read English
    bad = client.post("/admin/markup", data={**form, "value": "lots"})
    assert bad.status_code == 422 and "not a percentage" in bad.get_data(as_text=True)

    assert client.post(f"/admin/markup/{rule.id}/delete").status_code == 302
    assert pricing.list_markups(tree.star) == []
    assert pricing.price_for(tree.star, catalog["steam"]) == 1000


def test_live_preview_json(app, tree, catalog, client_for):
    pricing.set_markup(tree.star, kind="percent", value=1000)
    client = owner_client(client_for, tree)
    r = client.get("/admin/markup/preview", query_string={
        "target": f"category:{catalog['games'].id}", "purpose": "retail", "kind": "fixed",
        "value": "3.00", "rounding": "fen"})
    assert r.status_code == 200
    rows = {row["sku"]: row for row in r.json["rows"]}
    assert rows["STEAM-50"] | {} == {
        "sku": "STEAM-50", "name": "Steam <b>50</b>", "currency": "CNY", "cost": 1000,
        "price": 1100, "new_price": 1300, "wholesale": 1000, "new_wholesale": 1000,
        "new_margin": 300}
    assert rows["PHONE-10"]["new_price"] == rows["PHONE-10"]["price"] == 1045
    wholesale = client.get("/admin/markup/preview", query_string={
        "target": "shop", "purpose": "wholesale", "kind": "percent", "value": "10"}).json
    assert {r["sku"]: r["new_wholesale"] for r in wholesale["rows"]} == {
        "STEAM-50": 1100, "PHONE-10": 1045}
    bad = client.get("/admin/markup/preview", query_string={"kind": "percent", "value": "x"})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert len(pricing.list_markups(tree.star)) == 1


def test_preview_respects_the_parents_cap(app, tree, catalog, client_for):
    pricing.set_child_cap(tree.master, 500)
    client = owner_client(client_for, tree)
    rows = client.get("/admin/markup/preview", query_string={
        "target": "shop", "kind": "percent", "value": "50"}).json["rows"]
    assert {r["sku"]: r["new_price"] for r in rows} == {"STEAM-50": 1050, "PHONE-10": 997}
    body = client.get("/admin/markup").get_data(as_text=True)
    note = body.split('class="note', 1)[1].split("</p>", 1)[0]   # in any language
    assert "5%" in note


def test_cannot_delete_another_shops_rule(app, tree, catalog, client_for):
    rule = pricing.set_markup(tree.rocket, kind="percent", value=1000)
    client = owner_client(client_for, tree)
    assert client.post(f"/admin/markup/{rule.id}/delete").status_code == 404
    assert [r.id for r in pricing.list_markups(tree.rocket)] == [rule.id]


def test_cap_on_sub_shops(app, tree, catalog, client_for):
    client = owner_client(client_for, tree)
    assert client.post("/admin/markup/cap", data={"cap-max_percent": "15"}).status_code == 302
    assert pricing.child_cap(tree.star) == 1500
    assert client.post("/admin/markup/cap", data={"cap-max_percent": "x"}).status_code == 302
    assert pricing.child_cap(tree.star) == 1500
    assert client.post("/admin/markup/cap", data={"cap-max_percent": ""}).status_code == 302
    assert pricing.child_cap(tree.star) is None
