"""``kameng products …``: the master's catalog from the command line (a contract for scripts)."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.money import MoneyError, format_plain, parse_amount
from kameng.shop.catalog import services
from kameng.shop.catalog.models import KINDS

products_cli = AppGroup("products", help="The master's products.")


def _money(value: str, option: str, currency: str) -> int:
    try:
        amount = parse_amount(value, currency)
    except MoneyError as err:
        raise InvalidInput(_l("%(option)s: %(err)s",
                              option=option, err=err), field=option) from None
    if amount < 0:
        raise InvalidInput(_l("%(option)s cannot be negative", option=option), field=option)
    return amount


@products_cli.command("create")
@click.option("--sku", required=True, help="Unique stock-keeping unit, e.g. STEAM-100.")
@click.option("--name", required=True, help="Name (zh_CN).")
@click.option("--name-en", help="Name in English.")
@click.option("--kind", required=True, help="card | topup | manual.")
@click.option("--cost", required=True, help="Supplier cost, major units (8.00).")
@click.option("--wholesale", required=True, help="Master's price to its sub-shops.")
@click.option("--retail", required=True, help="Master's own storefront price.")
@click.option("--category", help="Category name; created if missing.")
@click.option("--loop-code", is_flag=True, help="Deliver the same code to every buyer.")
def create(sku, name, name_en, kind, cost, wholesale, retail, category, loop_code):
    """Create a product of the master's catalog."""
    if kind not in KINDS:
        raise InvalidInput(_l("--kind must be one of %(choices)s, not %(kind)r",
                              choices=', '.join(KINDS), kind=kind),
                           field="kind")
    currency = services.catalog_currency()
    amounts = {"supplier_cost": _money(cost, "--cost", currency),
               "wholesale_price": _money(wholesale, "--wholesale", currency),
               "retail_price": _money(retail, "--retail", currency)}
    product = services.create_product(sku=sku, name=name, kind=kind, category=category or None,
                                      name_en=name_en, loop_code=loop_code, **amounts)
    click.echo(f"created {product.sku} ({product.kind}) cost {format_plain(product.supplier_cost, currency)}"
               f" wholesale {format_plain(product.wholesale_price, currency)}"
               f" retail {format_plain(product.retail_price, currency)} {currency}")


@products_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (amounts in minor units).")
def list_products(as_json):
    """List the master's products."""
    rows = [{
        "sku": p.sku, "name": p.name, "name_en": p.name_en, "kind": p.kind,
        "status": p.status, "category": p.category.name if p.category else None,
        "currency": p.currency, "cost": p.supplier_cost, "wholesale": p.wholesale_price,
        "retail": p.retail_price, "stock": p.stock_available if p.kind == "card" else None,
        "loop_code": p.loop_code,
    } for p in services.list_products()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        stock = "" if r["stock"] is None else f" stock {r['stock']}"
        click.echo(f"{r['sku']:<20} {r['kind']:<7} {r['status']:<9} "
                   f"{format_plain(r['retail'], r['currency'])} {r['currency']}{stock}  {r['name']}")
