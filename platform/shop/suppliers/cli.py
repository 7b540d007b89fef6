"""``kameng suppliers …``: upstream suppliers from the command line."""
from __future__ import annotations

import json
import os

import click
from flask.cli import AppGroup

from kameng.core.money import format_plain
from kameng.shop.suppliers import services
from kameng.shop.suppliers.models import ADAPTERS

suppliers_cli = AppGroup("suppliers", help="Upstream suppliers: settings, test, catalog sync.")


@suppliers_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_suppliers(as_json):
    """List suppliers (never their secrets)."""
    rows = [{"id": s.id, "name": s.name, "adapter": s.adapter, "enabled": s.enabled,
             "base_url": (s.config or {}).get("base_url"), "has_secret": s.has_secret,
             "last_balance": s.last_balance} for s in services.list_suppliers()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"{r['id']}\t{r['name']}\t{r['adapter']}\t"
                   f"{'enabled' if r['enabled'] else 'disabled'}\t{r['base_url'] or '-'}")


@suppliers_cli.command("create")
@click.option("--name", required=True)
@click.option("--adapter", type=click.Choice(ADAPTERS), default="http_topup", show_default=True)
@click.option("--base-url")
@click.option("--key-id")
@click.option("--secret-env", metavar="VAR",
              help="Read the API secret from this environment variable "
                   "(otherwise it is asked for, hidden).")
@click.option("--connect-timeout", help="Seconds (default 5).")
@click.option("--read-timeout", help="Seconds (default 15).")
@click.option("--disabled", is_flag=True)
def create_supplier(name, adapter, base_url, key_id, secret_env, connect_timeout,
                    read_timeout, disabled):
    """Add a supplier. The secret is never taken on the command line (shell history)."""
    secret = None
    if adapter == "http_topup":
        secret = os.environ.get(secret_env) if secret_env else \
            click.prompt("API secret", hide_input=True)
    supplier = services.create_supplier(name, adapter, base_url=base_url, key_id=key_id,
                                        secret=secret, connect_timeout=connect_timeout,
                                        read_timeout=read_timeout, enabled=not disabled)
    click.echo(f"created supplier {supplier.name} (id {supplier.id})")


@suppliers_cli.command("test")
@click.argument("name")
def test_supplier(name):
    """Test the connection: print the balance upstream."""
    supplier = services.supplier_by_name(name)
    balance = services.check_balance(supplier.id)
    click.echo(f"{supplier.name}: balance {balance}")


@suppliers_cli.command("sync")
@click.argument("name")
@click.option("--update-costs", is_flag=True,
              help="Take upstream prices as our supplier cost for mapped products.")
def sync_supplier(name, update_costs):
    """Fetch a supplier's catalog."""
    supplier = services.supplier_by_name(name)
    report = services.sync_catalog(supplier.id, update_costs=update_costs)
    click.echo(f"synced {report.total}, new {len(report.added)}, gone {len(report.gone)}, "
               f"costs updated {len(report.costs_updated)}")


@suppliers_cli.command("margins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (integer minor units).")
def margins(as_json):
    """Per product: supplier, supplier cost, wholesale price, margin."""
    rows = services.supplier_margin_report()
    if as_json:
        click.echo(json.dumps([{
            "sku": r.sku, "supplier": r.supplier, "supplier_sku": r.supplier_sku,
            "currency": r.currency, "supplier_cost": r.supplier_cost,
            "wholesale": r.wholesale_price, "margin": r.margin,
            "upstream_price": r.upstream_price} for r in rows], ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"{r.sku}\t{r.supplier or 'own stock'}\t"
                   f"cost {format_plain(r.supplier_cost, r.currency)}\t"
                   f"wholesale {format_plain(r.wholesale_price, r.currency)}\t"
                   f"margin {format_plain(r.margin, r.currency)}")
