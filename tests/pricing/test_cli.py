"""The operator commands: ``kameng markup …``, ``prices show``, ``tiers``, ``qty-discount``."""
from __future__ import annotations

import json

import pytest

from kameng.shop.catalog.services import product_by_sku
from kameng.shop.pricing import services as pricing
from tests.pricing.helpers import category, chain, product

pytestmark = pytest.mark.both


def err(result) -> str:
    return result.stderr if hasattr(result, "stderr") else result.output


@pytest.fixture
def shops(app):
    master, s1, s2 = chain(2)
    games = category("Games")
    product("STEAM-50", 800, 1000, 1200, category=games, name="Steam 50")
    product("PHONE-10", 900, 950, 1000, name="话费 10")
    return master, s1, s2


def show(cli, slug, *extra):
    r = cli("prices", "show", "--tenant", slug, "--json", *extra)
    assert r.exit_code == 0, err(r)
    return {row["sku"]: row for row in json.loads(r.output)}


def test_prices_show_json_contract(cli, shops):
    r = cli("prices", "show", "--tenant", "master", "--json")
    assert r.exit_code == 0, err(r)
    rows = json.loads(r.output)
    assert [row["sku"] for row in rows] == ["PHONE-10", "STEAM-50"]
    for row in rows:
        assert set(row) == {"sku", "name", "currency", "cost", "wholesale", "price", "margin"}
        assert all(isinstance(row[k], int) for k in ("cost", "wholesale", "price", "margin"))
    assert rows[1] == {"sku": "STEAM-50", "name": "Steam 50", "currency": "CNY", "cost": 800,
                       "wholesale": 1000, "price": 1200, "margin": 400}
    one = json.loads(cli("prices", "show", "--tenant", "s1", "--sku", "PHONE-10",
                         "--json").output)
    assert one == [{"sku": "PHONE-10", "name": "话费 10", "currency": "CNY", "cost": 950,
                    "wholesale": 950, "price": 950, "margin": 0}]


def test_prices_show_table(cli, shops):
    cli("markup", "set", "--tenant", "s1", "--percent", "10")
    r = cli("prices", "show", "--tenant", "s1")
    assert r.exit_code == 0, err(r)
    lines = r.output.splitlines()
    assert lines[0].split() == ["SKU", "NAME", "COST", "WHOLESALE", "PRICE", "MARGIN"]
    assert lines[2].split() == ["STEAM-50", "Steam", "50", "10.00", "10.00", "11.00", "1.00"]


def test_markup_set_every_form(cli, shops):
    assert cli("markup", "set", "--tenant", "s1", "--percent", "10").exit_code == 0
    assert show(cli, "s1")["STEAM-50"]["price"] == 1100
    r = cli("markup", "set", "--tenant", "s1", "--fixed", "2.50", "--category", "Games")
    assert r.exit_code == 0, err(r)
    assert show(cli, "s1")["STEAM-50"]["price"] == 1250
    r = cli("markup", "set", "--tenant", "s1", "--percent", "23.1", "--sku", "STEAM-50",
            "--rounding", "x9")
    assert r.exit_code == 0, err(r)
    assert show(cli, "s1")["STEAM-50"] == {
        "sku": "STEAM-50", "name": "Steam 50", "currency": "CNY", "cost": 1000,
        "wholesale": 1000, "price": 1239, "margin": 239}
    assert show(cli, "s1")["PHONE-10"]["price"] == 1045
    r = cli("markup", "set", "--tenant", "s1", "--percent", "5", "--wholesale")
    assert r.exit_code == 0, err(r)
    assert show(cli, "s1")["STEAM-50"]["wholesale"] == 1050
    assert show(cli, "s2")["STEAM-50"]["cost"] == 1050
    listing = cli("markup", "list", "--tenant", "s1")
    assert listing.exit_code == 0
    assert "product STEAM-50" in listing.output and "category Games" in listing.output
    assert "+23.1% (round x9)" in listing.output and "+2.50" in listing.output
    assert len(pricing.list_markups(shops[1])) == 4


def test_markup_cap(cli, shops):
    cli("markup", "set", "--tenant", "s1", "--percent", "50")
    r = cli("markup", "cap", "--tenant", "master", "--max-percent", "20")
    assert r.exit_code == 0, err(r)
    assert show(cli, "s1")["STEAM-50"]["price"] == 1200
    assert "cap from the parent shop: at most 20%" in cli("markup", "list", "--tenant",
                                                          "s1").output
    assert cli("markup", "cap", "--tenant", "master", "--clear").exit_code == 0
    assert show(cli, "s1")["STEAM-50"]["price"] == 1500


def test_tiers_and_quantity_discounts(cli, shops):
    r = cli("tiers", "set", "--tenant", "s1", "--name", "VIP", "--discount", "5",
            "--min-spend", "100.00")
    assert r.exit_code == 0, err(r)
    (tier,) = pricing.list_tiers(shops[1])
    assert (tier.name, tier.discount_bp, tier.min_spend) == ("VIP", 500, 10000)
    assert "VIP" in cli("tiers", "list", "--tenant", "s1").output
    r = cli("qty-discount", "set", "--tenant", "s1", "--sku", "STEAM-50", "--from", "10",
            "--percent", "3")
    assert r.exit_code == 0, err(r)
    cli("markup", "set", "--tenant", "s1", "--percent", "10")
    steam = product_by_sku("STEAM-50")
    assert pricing.price_for(shops[1], steam, quantity=10) == 1067
    assert "STEAM-50" in cli("qty-discount", "list", "--tenant", "s1").output


@pytest.mark.parametrize("args, message", [
    (["markup", "set", "--tenant", "nope", "--percent", "5"], "no shop with slug 'nope'"),
    (["markup", "set", "--tenant", "s1"], "exactly one of --percent or --fixed"),
    (["markup", "set", "--tenant", "s1", "--percent", "5", "--fixed", "1"], "exactly one"),
    (["markup", "set", "--tenant", "s1", "--percent", "abc"], "not a percentage"),
    (["markup", "set", "--tenant", "s1", "--percent", "-5"], "between 0"),
    (["markup", "set", "--tenant", "s1", "--fixed", "1.234"], "more than 2 decimal places"),
    (["markup", "set", "--tenant", "s1", "--percent", "5", "--sku", "NOPE"],
     "no product with SKU 'NOPE'"),
    (["markup", "set", "--tenant", "s1", "--percent", "5", "--category", "Nope"],
     "no category named 'Nope'"),
    (["markup", "set", "--tenant", "s1", "--percent", "5", "--sku", "STEAM-50",
      "--category", "Games"], "not both"),
    (["markup", "set", "--tenant", "s1", "--percent", "5", "--rounding", "bad"], "bad"),
    (["markup", "cap", "--tenant", "master", "--max-percent", "x"], "not a percentage"),
    (["markup", "delete", "--tenant", "s1", "99999"], "no markup rule 99999"),
    (["prices", "show", "--tenant", "s1", "--sku", "NOPE"], "no product with SKU 'NOPE'"),
    (["tiers", "set", "--tenant", "s1", "--name", "VIP", "--discount", "101",
      "--min-spend", "1"], "between 0 and 100"),
    (["qty-discount", "set", "--tenant", "s1", "--from", "0", "--percent", "5"],
     "at least 1"),
])
def test_bad_input_exits_nonzero_with_one_line(cli, shops, args, message):
    r = cli(*args)
    assert r.exit_code != 0
    assert message in err(r)
    if "Error:" in err(r):
        assert len([line for line in err(r).splitlines() if line.startswith("Error:")]) == 1
    assert pricing.list_markups(shops[1]) == [] and pricing.list_tiers(shops[1]) == []
    assert pricing.child_cap(shops[0]) is None
