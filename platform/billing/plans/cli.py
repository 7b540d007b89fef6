"""``kameng plans …``: define plans, give or pay them, run the expiry sweep."""
from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from kameng.billing.plans import services
from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.money import format_money, parse_input_amount
from kameng.tenants.services import tenant_by_slug

plans_cli = AppGroup("plans", help="Sub-shop plans (普及版 / 专业版 …).")


@plans_cli.command("create")
@click.option("--tenant", "slug", required=True, help="The shop that sells it.")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--price", required=True, help="Per period, in major units, e.g. 29.00.")
@click.option("--interval", type=click.Choice(["month", "year"]), default="month")
@click.option("--base", "base_code", help="Resell this plan of the parent shop.")
@click.option("--custom-domain", is_flag=True)
@click.option("--sub-shops", is_flag=True)
@click.option("--own-gateway", is_flag=True,
              help="Its shops may take payments on their own 易支付 gateway.")
@click.option("--max-markup-bp", type=click.IntRange(0))
@click.option("--max-staff", type=click.IntRange(0))
@click.option("--theme", "themes", multiple=True)
def create(slug, code, name, price, interval, base_code, custom_domain, sub_shops,
           own_gateway, max_markup_bp, max_staff, themes):
    """Define a plan (master) or resell the parent's (sub-shop)."""
    tenant = tenant_by_slug(slug)
    price = parse_input_amount(price, tenant.currency, "price")
    base_id = None
    if base_code:
        if tenant.parent is None:
            raise InvalidInput(_l("the master resells nothing"))
        base_id = services.plan_by_code(tenant.parent, base_code).id
    plan = services.create_plan(tenant, code, name, price, interval, base_plan_id=base_id,
                                custom_domain=custom_domain, sub_shops=sub_shops,
                                own_gateway=own_gateway,
                                max_markup_bp=max_markup_bp, max_staff=max_staff,
                                themes=list(themes) or None)
    click.echo(f"plan {plan.id} {plan.code}: {plan.name}, "
               f"{format_money(plan.price, tenant.currency)}/{plan.interval}")


@plans_cli.command("list")
@click.option("--tenant", "slug", required=True)
def list_cmd(slug):
    """List the plans a shop defines or resells."""
    tenant = tenant_by_slug(slug)
    for plan in services.plans_of(tenant):
        click.echo(f"{plan.id:>4} {plan.code:<16} {plan.name:<20} "
                   f"{format_money(plan.price, tenant.currency):>12}/{plan.interval}"
                   f"{'' if plan.active else '  (retired)'}")


@plans_cli.command("assign")
@click.option("--tenant", "slug", required=True)
@click.option("--plan", "code", required=True)
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]))
def assign(slug, code, until):
    """Give a shop its parent's plan without payment."""
    tenant = tenant_by_slug(slug)
    plan = services.plan_by_code(tenant.parent, code) if tenant.parent else None
    if plan is None:
        raise InvalidInput(_l("the master has no plan"))
    sub = services.grant_plan(tenant, plan.id, until.replace(tzinfo=UTC) if until else None)
    click.echo(f"{slug}: {plan.code} until {sub.current_period_end:%Y-%m-%d}")


@plans_cli.command("pay")
@click.option("--tenant", "slug", required=True)
@click.option("--plan", "code", required=True)
def pay(slug, code):
    """Pay one period from the shop's available earnings."""
    tenant = tenant_by_slug(slug)
    plan = services.plan_by_code(tenant.parent, code) if tenant.parent else None
    if plan is None:
        raise InvalidInput(_l("the master pays no plan"))
    payment = services.pay_plan(tenant, plan.id, "balance")
    click.echo(f"{slug}: paid {format_money(payment.amount, payment.currency)}, "
               f"{plan.code} until {payment.period_end:%Y-%m-%d}")


@plans_cli.command("sweep")
def sweep():
    """Renew, start grace, expire (and suspend) lapsed plans."""
    counts = services.sweep_subscriptions(datetime.now(UTC))
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))


@plans_cli.command("own-gateway")
@click.option("--tenant", "slug", required=True, help="The sub-shop.")
@click.argument("choice", type=click.Choice(["allow", "deny", "plan"]))
def own_gateway(slug, choice):
    """Let a sub-shop take payments on its own 易支付 gateway, or not (its parent decides;
    ``plan``: its plan's rule)."""
    from kameng.billing.payments.registry import own_gateway_allowed
    from kameng.billing.payments.services import set_own_gateway
    from kameng.core.extensions import db
    from kameng.tenants.models import Tenant

    shop = tenant_by_slug(slug)
    if shop.parent_id is None:
        raise InvalidInput(_l("the master's gateways are the platform's"))
    parent = db.session.get(Tenant, shop.parent_id)
    set_own_gateway(parent, shop, None if choice == "plan" else choice, actor="cli")
    click.echo(f"{slug}: own payment gateway "
               f"{'allowed' if own_gateway_allowed(shop) else 'not allowed'} ({choice})")
