"""收益 → 设置 (/admin/earnings/settings) and 会员等级 / 批发价 (/admin/discounts).

The billing settings page answered 500 for every shop (a literal % in a template
msgid); these tests open it for each role that can reach it, in both languages, and
submit every setting it holds: the form calls the service ``kameng commissions
settings`` calls, with the CLI's units. The master's rules are neither shown to nor
accepted from a sub-shop; a shop's own settings never touch its parent's or siblings'.
"""
from __future__ import annotations

import pytest

from kameng.billing.commissions import settings as billing_settings
from kameng.shop.catalog import services as catalog
from kameng.shop.pricing import services as pricing
from kameng.tenants import services as tenants
from tests.helpers import PASSWORD, login

pytestmark = pytest.mark.both

LANGS = ("en", "zh_CN")
MASTER_RULES = {
    "promoter_percent": "5", "hold_days": "7", "withdraw_min": "100.00",
    "withdraw_fee_fixed": "2", "withdraw_fee_percent": "1.5", "withdraw_approver": "parent",
    "plan_grace_days": "5", "fee_stripe_percent": "2.9", "fee_stripe_fixed": "0.30",
    "fee_stripe_payer": "master", "fee_epay_percent": "0.6", "fee_epay_fixed": "",
    "fee_epay_payer": "seller", "fee_balance_percent": "", "fee_balance_fixed": ""}


@pytest.fixture
def shops(tree):
    """master → star → rocket, and star's sibling nova; an owner and staff each."""
    tree.nova = tenants.create_tenant("nova", "Nova", "master")
    tenants.create_user(tree.nova, "owner@nova.test", "owner", PASSWORD)
    for t in (tree.master, tree.star, tree.rocket, tree.nova):
        tenants.create_user(t, f"staff@{t.slug}.test", "staff", PASSWORD)
    return tree


def _as(client_for, slug: str, role: str = "owner", lang: str = "en"):
    client = client_for(f"{slug}.localhost")
    login(client, f"{role}@{slug}.test")
    client.get(f"/lang/{lang}")
    return client


def _row(slug: str):
    return billing_settings.settings_for(tenants.tenant_by_slug(slug))


@pytest.mark.parametrize("lang", LANGS)
def test_page_opens_for_every_owner_and_not_for_staff(shops, client_for, lang):
    for slug in ("master", "star", "rocket"):
        page = _as(client_for, slug, lang=lang).get("/admin/earnings/settings")
        assert page.status_code == 200, (slug, lang)
        assert 'name="promoter_percent"' in page.text
        assert ('name="hold_days"' in page.text) == (slug == "master")
        assert ('name="fee_stripe_percent"' in page.text) == (slug == "master")
        assert "/admin/discounts" in page.text
        assert "%%" not in page.text   # a literal % in a label is shown once
        if lang == "zh_CN":
            assert "推广员分成" in page.text and "Promoter share" not in page.text
        staff = _as(client_for, slug, "staff", lang)
        assert staff.get("/admin/earnings/settings").status_code == 403
        assert staff.post("/admin/earnings/settings",
                          data={"promoter_percent": "9"}).status_code == 403
    assert _row("star").promoter_bp == 0


def test_master_sets_every_platform_rule(shops, client_for):
    master = _as(client_for, "master")
    assert master.post("/admin/earnings/settings", data=MASTER_RULES).status_code == 302
    row = _row("master")
    assert (row.promoter_bp, row.hold_days, row.withdraw_min, row.withdraw_fee_fixed,
            row.withdraw_fee_bp, row.withdraw_approver, row.plan_grace_days) == (
        500, 7, 10000, 200, 150, "parent", 5)
    assert billing_settings.hold_days() == 7
    assert billing_settings.fee_rule("stripe") == {"bp": 290, "fixed": 30, "payer": "master"}
    assert billing_settings.fee_rule("epay") == {"bp": 60, "fixed": 0, "payer": "seller"}
    assert billing_settings.fee_rule("balance") is None
    # shown back as entered (percentages and major units)
    page = master.get("/admin/earnings/settings").text
    for shown in ('value="100.00"', 'value="2.00"', 'value="1.5"', 'value="2.9"',
                  'value="0.30"', 'value="7"', 'value="5"'):
        assert shown in page, shown
    # an empty hold period goes back to the server's default
    assert master.post("/admin/earnings/settings",
                       data={**MASTER_RULES, "hold_days": ""}).status_code == 302
    assert _row("master").hold_days is None
    # the same values the CLI sets
    cli_row = billing_settings.settings_for(shops.master)
    assert cli_row.withdraw_min == 10000


@pytest.mark.parametrize("lang", LANGS)
def test_bad_input_is_refused_clearly_and_nothing_is_written(shops, client_for, lang):
    master = _as(client_for, "master", lang=lang)
    cases = [({"withdraw_min": "12abc"}, "withdraw_min", "Minimum withdrawal", "最低提现额"),
             ({"hold_days": "-1"}, "hold_days", "Hold period", "冻结期"),
             ({"fee_stripe_percent": "150"}, "fee_stripe_percent", "between 0 and 100",
              "100"),
             ({"withdraw_approver": "anyone"}, None, "choose who approves withdrawals",
              "请选择提现审批方"),
             ({"fee_epay_payer": "buyer"}, None, "choose who bears the payment fee",
              "请选择支付手续费的承担方")]
    for change, field, english, chinese in cases:
        resp = master.post("/admin/earnings/settings", data={**MASTER_RULES, **change})
        assert resp.status_code == 422, change
        assert 'role="alert"' in resp.text
        assert (english if lang == "en" else chinese) in resp.text, (change, resp.text[-3000:])
        if field:
            assert f'id="{field}" name="{field}" value="{change[field]}"' in resp.text
        row = _row("master")
        assert row.id is None or (row.promoter_bp, row.hold_days) == (0, None), change
    assert billing_settings.find_settings(shops.master) is None


def test_sub_shop_owner_is_refused_the_masters_rules(shops, client_for):
    star = _as(client_for, "star")
    for rule in ("hold_days", "withdraw_min", "withdraw_approver", "plan_grace_days",
                 "fee_stripe_percent"):
        value = {"withdraw_approver": "parent"}.get(rule, "1")
        resp = star.post("/admin/earnings/settings",
                         data={"promoter_percent": "10", rule: value})
        assert resp.status_code == 403, rule
        assert "only the master shop sets" in resp.text
    assert billing_settings.find_settings(shops.star) is None
    assert billing_settings.find_settings(shops.master) is None
    # its own share is its own: the parent, the child and the sibling keep theirs
    assert star.post("/admin/earnings/settings",
                     data={"promoter_percent": "12.5"}).status_code == 302
    assert [_row(s).promoter_bp for s in ("star", "master", "rocket", "nova")] == [
        1250, 0, 0, 0]
    assert billing_settings.hold_days() == 3


# ----- member tiers and quantity discounts -------------------------------------------------

@pytest.fixture
def product(shops):
    return catalog.create_product(sku="CARD-1", name="卡", kind="card", supplier_cost=800,
                                  wholesale_price=900, retail_price=1000)


@pytest.mark.parametrize("lang", LANGS)
def test_discounts_page_for_every_owner_and_not_staff(product, client_for, lang):
    for slug in ("master", "star", "rocket"):
        page = _as(client_for, slug, lang=lang).get("/admin/discounts")
        assert page.status_code == 200
        assert 'name="min_spend"' in page.text and 'name="min_quantity"' in page.text
        assert "%%" not in page.text
        if lang == "zh_CN":
            assert "会员等级" in page.text
        staff = _as(client_for, slug, "staff", lang)
        assert staff.get("/admin/discounts").status_code == 403
        assert staff.post("/admin/discounts/tiers", data={
            "name": "VIP", "discount": "5", "min_spend": "1"}).status_code == 403
    assert pricing.list_tiers(product and tenants.tenant_by_slug("star")) == []


def test_owner_sets_and_deletes_tiers_and_quantity_steps(product, shops, client_for):
    star = _as(client_for, "star")
    assert star.post("/admin/discounts/tiers", data={
        "name": "VIP", "discount": "5", "min_spend": "100.00"}).status_code == 302
    assert star.post("/admin/discounts/quantity", data={
        "target": "", "min_quantity": "10", "percent": "3"}).status_code == 302
    assert star.post("/admin/discounts/quantity", data={
        "target": str(product.id), "min_quantity": "5", "percent": "2.5"}).status_code == 302
    [tier] = pricing.list_tiers(shops.star)
    assert (tier.name, tier.discount_bp, tier.min_spend) == ("VIP", 500, 10000)
    steps = {(s.product_id, s.min_quantity, s.discount_bp)
             for s in pricing.list_quantity_discounts(shops.star)}
    assert steps == {(None, 10, 300), (product.id, 5, 250)}
    page = star.get("/admin/discounts").text
    assert "VIP" in page and "CARD-1" in page and "2.5%" in page
    # the same name changes the tier
    star.post("/admin/discounts/tiers", data={"name": "VIP", "discount": "6",
                                              "min_spend": "100"})
    assert [t.discount_bp for t in pricing.list_tiers(shops.star)] == [600]
    # only this shop: its parent, its sub-shop and its sibling have none
    for other in (shops.master, shops.rocket, shops.nova):
        assert pricing.list_tiers(other) == [] and pricing.list_quantity_discounts(other) == []
    # bad input: refused, nothing written
    for url, data in [("/admin/discounts/tiers", {"name": "SVIP", "discount": "120",
                                                   "min_spend": "1"}),
                      ("/admin/discounts/tiers", {"name": "SVIP", "discount": "5",
                                                   "min_spend": "lots"}),
                      ("/admin/discounts/tiers", {"name": " ", "discount": "5"}),
                      ("/admin/discounts/quantity", {"min_quantity": "0", "percent": "5"}),
                      ("/admin/discounts/quantity", {"min_quantity": "2", "percent": "x"}),
                      ("/admin/discounts/quantity", {"target": "999999",
                                                      "min_quantity": "2", "percent": "5"})]:
        resp = star.post(url, data=data)
        assert resp.status_code in (404, 422), (url, data)
        assert 'class="flash error"' in resp.text
    assert len(pricing.list_tiers(shops.star)) == 1
    assert len(pricing.list_quantity_discounts(shops.star)) == 2
    # another shop cannot delete star's step by its id
    rocket = _as(client_for, "rocket")
    step = pricing.list_quantity_discounts(shops.star)[0]
    assert rocket.post("/admin/discounts/quantity/delete",
                       data={"discount_id": step.id}).status_code == 404
    assert star.post("/admin/discounts/quantity/delete",
                     data={"discount_id": step.id}).status_code == 302
    assert star.post("/admin/discounts/tiers/delete", data={"name": "VIP"}).status_code == 302
    assert pricing.list_tiers(shops.star) == []
    assert len(pricing.list_quantity_discounts(shops.star)) == 1
