"""``kameng markup …``, ``kameng prices show``, ``kameng tiers …``, ``kameng qty-discount …``.

Amounts are given and shown in major units of the shop's currency
(``--fixed 2.50``); ``prices show --json`` prints integer minor units.
"""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.money import format_plain
from kameng.core.percent import BASIS, format_percent, parse_percent
from kameng.shop.catalog import services as catalog
from kameng.shop.pricing import services
from kameng.shop.pricing.models import ROUNDINGS
from kameng.tenants.cli import tenant_command

markup_cli = AppGroup("markup", help="Markup rules: how a shop prices what it sells.")
prices_cli = AppGroup("prices", help="The resulting prices of a shop.")
tiers_cli = AppGroup("tiers", help="Customer tiers (会员等级) of a shop.")
qty_cli = AppGroup("qty-discount", help="Quantity discounts (批发价) of a shop.")

JSON_KEYS = ("sku", "name", "currency", "cost", "wholesale", "price", "margin")


def list_command(group, rows, line, doc: str):
    """``GROUP list --tenant SLUG``: ``line(tenant, row)`` for each of ``rows(tenant)``."""
    def command(tenant):
        for row in rows(tenant):
            click.echo(line(tenant, row))
    command.__doc__ = doc
    return tenant_command(group, "list")(command)


def delete_command(group, key, delete, noun: str, doc: str):
    """``GROUP delete --tenant SLUG KEY``: ``delete(tenant, key)`` and say so.

    ``key`` is the click argument or option that names the one thing to delete.
    """
    def command(tenant, **given):
        (value,) = given.values()
        delete(tenant, value)
        click.echo(f"{tenant.slug}: deleted {noun} {value}")
    command.__doc__ = doc
    return tenant_command(group, "delete")(key(command))


@tenant_command(markup_cli, "set")
@click.option("--percent", help="Markup in percent of the cost, e.g. 12.5.")
@click.option("--fixed", help="Markup as an amount in the shop's currency, e.g. 2.00.")
@click.option("--sku", help="Only this product.")
@click.option("--category", help="Only this category (and its sub-categories).")
@click.option("--wholesale", is_flag=True,
              help="Set the shop's price to its own sub-shops instead of its retail price.")
@click.option("--rounding", type=click.Choice(ROUNDINGS), default="fen", show_default=True,
              help="fen: 0.01 half up; jiao: 0.1 half up; yuan: 1 half up; x9: up to .x9.")
def markup_set(tenant, percent, fixed, sku, category, wholesale, rounding):
    """Create or replace the markup rule of a shop (product > category > shop wins)."""
    if (percent is None) == (fixed is None):
        raise InvalidInput(_l("give exactly one of --percent or --fixed"))
    if sku and category:
        raise InvalidInput(_l("give --sku or --category, not both"))
    if percent is not None:
        value = parse_percent(percent, "--percent", maximum_bp=services.MAX_MARKUP_BP)
        kind = "percent"
    else:
        kind, value = "fixed", services.parse_money(fixed, tenant.currency, "--fixed")
    level, category_id, product_id = "shop", None, None
    if sku:
        level, product_id = "product", catalog.product_by_sku(sku).id
    elif category:
        level, category_id = "category", catalog.category_by_name(category).id
    rule = services.set_markup(tenant, kind=kind, value=value, level=level,
                               category_id=category_id, product_id=product_id,
                               wholesale=wholesale, rounding=rounding)
    purpose = "wholesale (to sub-shops)" if rule.wholesale else "retail"
    note = ""
    cap = services.cap_on(tenant)
    if cap is not None and (kind == "percent" and value > cap):
        note = f"; capped at {format_percent(cap)}% by the parent shop"
    click.echo(f"{tenant.slug}: {purpose} markup for {services.rule_target_label(rule)} "
               f"{services.describe_rule(rule)} (rule {rule.id}){note}")


@tenant_command(markup_cli, "list")
def markup_list(tenant):
    """List a shop's markup rules and caps."""
    rules = services.list_markups(tenant)
    if not rules:
        click.echo(f"{tenant.slug}: no markup rules (sells at cost"
                   f"{'' if tenant.parent_id else ' / the set prices'})")
    for rule in rules:
        purpose = "wholesale" if rule.wholesale else "retail"
        click.echo(f"{rule.id:>6}  {purpose:<9}  {services.rule_target_label(rule):<32}  "
                   f"{services.describe_rule(rule)}")
    cap = services.cap_on(tenant)
    if cap is not None:
        click.echo(f"cap from the parent shop: at most {format_percent(cap)}% markup")
    own = services.child_cap(tenant)
    if own is not None:
        click.echo(f"cap on sub-shops: at most {format_percent(own)}% markup")


markup_delete = delete_command(
    markup_cli, click.argument("rule_id", type=int), services.delete_markup, "rule",
    "Delete one markup rule (by the id ``markup list`` shows).")


@tenant_command(markup_cli, "cap", "Slug of the parent shop.")
@click.option("--max-percent", help="Highest markup its direct sub-shops may add, in percent.")
@click.option("--clear", is_flag=True, help="Remove the cap.")
def markup_cap(tenant, max_percent, clear):
    """Cap the markup of the direct sub-shops of SLUG."""
    if (max_percent is None) == (not clear):
        raise InvalidInput(_l("give --max-percent P or --clear"))
    bp = None if clear else parse_percent(max_percent, "--max-percent",
                                            maximum_bp=services.MAX_MARKUP_BP)
    services.set_child_cap(tenant, bp)
    if bp is None:
        click.echo(f"{tenant.slug}: sub-shops' markup is not capped")
    else:
        click.echo(f"{tenant.slug}: sub-shops may add at most {format_percent(bp)}%")


@tenant_command(prices_cli, "show")
@click.option("--sku", help="Only this product.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (integer minor units).")
def prices_show(tenant, sku, as_json):
    """Per product: cost, wholesale price (to sub-shops), retail price and margin."""
    rows = services.price_rows(tenant, sku)
    if as_json:
        click.echo(json.dumps([{k: r[k] for k in JSON_KEYS} for r in rows],
                              ensure_ascii=False, indent=2))
        return
    click.echo(f"{'SKU':<20} {'NAME':<28} {'COST':>10} {'WHOLESALE':>10} {'PRICE':>10} "
               f"{'MARGIN':>10}")
    for r in rows:
        cur = r["currency"]
        click.echo(f"{r['sku']:<20} {r['name'][:28]:<28} {format_plain(r['cost'], cur):>10} "
                   f"{format_plain(r['wholesale'], cur):>10} {format_plain(r['price'], cur):>10} "
                   f"{format_plain(r['margin'], cur):>10}")


@tenant_command(tiers_cli, "set")
@click.option("--name", required=True, help="Tier name, e.g. VIP.")
@click.option("--discount", required=True, help="Discount in percent, e.g. 5.")
@click.option("--min-spend", required=True, help="Total spend that reaches it, e.g. 100.00.")
def tiers_set(tenant, name, discount, min_spend):
    """Create or change a customer tier."""
    bp = parse_percent(discount, "--discount", maximum_bp=BASIS)
    spend = services.parse_money(min_spend, tenant.currency, "--min-spend")
    tier = services.set_tier(tenant, name, bp, spend)
    click.echo(f"{tenant.slug}: tier {tier.name} -{format_percent(bp)}% from "
               f"{format_plain(spend, tenant.currency)} spent")


def _tier_line(tenant, tier) -> str:
    return (f"{tier.name:<20} -{format_percent(tier.discount_bp):>6}%  from "
            f"{format_plain(tier.min_spend, tenant.currency)}")


tiers_list = list_command(tiers_cli, services.list_tiers, _tier_line,
                          "List a shop's customer tiers.")


tiers_delete = delete_command(
    tiers_cli, click.option("--name", required=True), services.delete_tier, "tier",
    "Delete a customer tier.")


@tenant_command(qty_cli, "set")
@click.option("--sku", help="Only this product (default: every product).")
@click.option("--from", "from_quantity", required=True, type=int, help="From this many units.")
@click.option("--percent", required=True, help="Discount in percent.")
def qty_set(tenant, sku, from_quantity, percent):
    """From N units, X% off."""
    bp = parse_percent(percent, "--percent", maximum_bp=BASIS)
    product_id = catalog.product_by_sku(sku).id if sku else None
    row = services.set_quantity_discount(tenant, from_quantity, bp, product_id)
    click.echo(f"{tenant.slug}: from {row.min_quantity} units -{format_percent(bp)}% "
               f"on {sku or 'every product'} (discount {row.id})")


def _quantity_discount_line(tenant, row) -> str:
    target = catalog.product_sku(row.product_id) if row.product_id else "every product"
    return (f"{row.id:>6}  {target:<24} from {row.min_quantity:>5} units  "
            f"-{format_percent(row.discount_bp)}%")


qty_list = list_command(qty_cli, services.list_quantity_discounts, _quantity_discount_line,
                        "List a shop's quantity discounts.")


qty_delete = delete_command(
    qty_cli, click.argument("discount_id", type=int), services.delete_quantity_discount,
    "quantity discount", "Delete a quantity discount (by the id ``qty-discount list`` shows).")


COMMANDS = [markup_cli, prices_cli, tiers_cli, qty_cli]
