"""``kameng commissions …`` and ``kameng ledger balances``.

``commissions post`` reads an order, so it lives in ``kameng.sales.cli``.
"""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from kameng.billing import reports
from kameng.billing.commissions import services
from kameng.billing.commissions import settings as billing_settings
from kameng.billing.ledger.cli import ledger_cli
from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.money import format_money, parse_input_amount
from kameng.core.percent import format_percent, parse_percent
from kameng.tenants.services import tenant_by_slug

commissions_cli = AppGroup("commissions", help="Commissions up the tenant tree, the hold.")


@ledger_cli.command("balances")
@click.option("--tenant", "slug", help="Only this shop.")
@click.option("--json", "as_json", is_flag=True, help="Integer minor units, one JSON document.")
def balances(slug, as_json):
    """Each shop's earnings: pending, available, earned in all."""
    rows = reports.balances([tenant_by_slug(slug)]) if slug else reports.tree()
    if as_json:
        click.echo(json.dumps([r.as_json() for r in rows], ensure_ascii=False))
        return
    click.echo(f"{'shop':<24} {'pending':>14} {'available':>14} {'held':>12} {'earned':>14}")
    for r in rows:
        click.echo(f"{'  ' * r.depth + r.slug:<24} {format_money(r.pending, r.currency):>14} "
                   f"{format_money(r.available, r.currency):>14} "
                   f"{format_money(r.hold, r.currency):>12} "
                   f"{format_money(r.earned_total, r.currency):>14}")


@commissions_cli.command("mature")
def mature():
    """Make the earnings of every order past its hold period available."""
    click.echo(f"matured {services.mature_commissions()} order(s)")


@commissions_cli.command("settings")
@click.option("--tenant", "slug", required=True, help="The shop (platform rules: the master).")
@click.option("--hold-days", type=click.IntRange(0, 365))
@click.option("--promoter-percent", help="A shop's promoter share of its own margin, e.g. 10.")
@click.option("--withdraw-min", help="In major units, e.g. 50.00.")
@click.option("--withdraw-fee-fixed", help="In major units, e.g. 2.00.")
@click.option("--withdraw-fee-percent")
@click.option("--approver", type=click.Choice(["master", "parent"]))
@click.option("--grace-days", type=click.IntRange(0, 365))
@click.option("--fee", "fees", multiple=True,
              help="PROVIDER:PERCENT:FIXED:PAYER, e.g. stripe:2.9:30:seller (repeatable).")
def settings_cmd(slug, hold_days, promoter_percent, withdraw_min, withdraw_fee_fixed,
                 withdraw_fee_percent, approver, grace_days, fees):
    """Show or change billing settings."""
    tenant = tenant_by_slug(slug)
    values = {}
    if hold_days is not None:
        values["hold_days"] = hold_days
    if promoter_percent is not None:
        values["promoter_bp"] = parse_percent(promoter_percent, "promoter_percent")
    if withdraw_min is not None:
        values["withdraw_min"] = parse_input_amount(withdraw_min, tenant.currency,
                                                    "withdraw_min")
    if withdraw_fee_fixed is not None:
        values["withdraw_fee_fixed"] = parse_input_amount(withdraw_fee_fixed, tenant.currency,
                                                          "withdraw_fee_fixed")
    if withdraw_fee_percent is not None:
        values["withdraw_fee_bp"] = parse_percent(withdraw_fee_percent, "withdraw_fee")
    if approver:
        values["withdraw_approver"] = approver
    if grace_days is not None:
        values["plan_grace_days"] = grace_days
    if fees:
        rules = dict(billing_settings.settings_for(tenant).provider_fees or {})
        for spec in fees:
            parts = spec.split(":")
            if len(parts) != 4 or not parts[2].isdigit():
                raise InvalidInput(_l("bad --fee %(spec)r: PROVIDER:PERCENT:FIXED:PAYER",
                                      spec=spec))
            rules[parts[0]] = {"bp": parse_percent(parts[1], "fee"),
                               "fixed": int(parts[2]), "payer": parts[3]}
        values["provider_fees"] = rules
    row = billing_settings.update_settings(tenant, **values) if values else \
        billing_settings.settings_for(tenant)
    click.echo(f"{tenant.slug}: promoter {format_percent(row.promoter_bp)}%")
    if tenant.is_master:
        cur = tenant.currency
        click.echo(f"hold days: {billing_settings.hold_days()}; withdrawals: minimum "
                   f"{format_money(row.withdraw_min, cur)}, fee "
                   f"{format_money(row.withdraw_fee_fixed, cur)} + "
                   f"{format_percent(row.withdraw_fee_bp)}%, approved by "
                   f"{row.withdraw_approver}; plan grace days: {row.plan_grace_days}")
        for provider, rule in sorted((row.provider_fees or {}).items()):
            click.echo(f"fee {provider}: {format_percent(rule['bp'])}% + "
                       f"{format_money(rule['fixed'], cur)}, booked to {rule['payer']}")
