"""``kameng withdrawals …``: payout methods, requests and decisions from the shell."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from kameng.billing.withdrawals import services
from kameng.core.money import format_money, parse_input_amount
from kameng.tenants.services import master, tenant_by_slug

withdrawals_cli = AppGroup("withdrawals", help="Withdrawals of shops' available earnings.")


def _show(w) -> str:
    return (f"W{w.id} {w.status:<9} {format_money(w.amount, w.currency):>12} "
            f"(fee {format_money(w.fee, w.currency)}) → {w.payout_method.label}"
            f"{'  ref ' + w.reference if w.reference else ''}")


@withdrawals_cli.command("add-method")
@click.option("--tenant", "slug", required=True)
@click.option("--kind", type=click.Choice(["alipay", "bank", "usdt", "stripe_connect"]),
              required=True)
@click.option("--account", required=True)
@click.option("--holder", default="")
@click.option("--bank", "bank_name", default="")
def add_method(slug, kind, account, holder, bank_name):
    """Save a payout method for a shop."""
    method = services.add_payout_method(tenant_by_slug(slug), kind, account, holder, bank_name)
    click.echo(f"payout method {method.id}: {method.label}")


@withdrawals_cli.command("request")
@click.option("--tenant", "slug", required=True)
@click.option("--method", "method_id", type=int, required=True)
@click.option("--amount", required=True, help="In major units, e.g. 100.00.")
def request_cmd(slug, method_id, amount):
    """Request a withdrawal (the amount is held at once)."""
    tenant = tenant_by_slug(slug)
    amount = parse_input_amount(amount, tenant.currency, "amount", minimum=1)
    click.echo(_show(services.request_withdrawal(tenant, None, method_id, amount)))


@withdrawals_cli.command("list")
@click.option("--status", type=click.Choice(["requested", "approved", "rejected", "paid"]))
def list_cmd(status):
    """Withdrawals awaiting (or past) the master's decision."""
    for w in services.reviewable(master(), status):
        click.echo(f"{tenant_slug(w.tenant_id):<20} {_show(w)}")


def tenant_slug(tid: int) -> str:
    from kameng.core.extensions import db
    from kameng.tenants.models import Tenant

    return db.session.get(Tenant, tid).slug


@withdrawals_cli.command("approve")
@click.argument("withdrawal_id", type=int)
def approve(withdrawal_id):
    """Approve a requested withdrawal (as the master)."""
    click.echo(_show(services.approve(withdrawal_id, master())))


@withdrawals_cli.command("reject")
@click.argument("withdrawal_id", type=int)
@click.option("--note")
def reject(withdrawal_id, note):
    """Reject a requested withdrawal; the held amount returns to the shop."""
    click.echo(_show(services.reject(withdrawal_id, master(), note=note)))


@withdrawals_cli.command("pay")
@click.argument("withdrawal_id", type=int)
@click.option("--reference", help="The payment's reference (not needed for Stripe Connect).")
def pay(withdrawal_id, reference):
    """Record an approved withdrawal as paid out (with the transfer's reference)."""
    click.echo(_show(services.mark_paid(withdrawal_id, master(), reference=reference)))
