"""``kameng ledger …`` (checking the books) and ``kameng balance …`` (customer wallets)."""
from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from kameng.billing import wallets
from kameng.billing.ledger import services as ledger
from kameng.core.money import format_money
from kameng.tenants.services import tenant_by_slug

ledger_cli = AppGroup("ledger", help="The double-entry ledger.")
balance_cli = AppGroup("balance", help="Customer wallet balances.")


@ledger_cli.command("check")
@click.option("--full", is_flag=True,
              help="Re-sum every entry, not only those since the last check.")
def check(full):
    """Verify every transaction balances and every cached balance equals its entries.

    Incremental: only the entries since the last check are summed (--full: all)."""
    start = time.perf_counter()
    result = ledger.check_ledger(full=full)
    elapsed = time.perf_counter() - start
    for problem in result.problems:
        click.echo(problem)
    if not result.ok:
        raise click.ClickException(f"ledger check failed: {len(result.problems)} problem(s)")
    click.echo(f"ledger ok: {result.transactions} transactions, {result.accounts} accounts, "
               f"{result.funded_accounts} funded accounts (none negative)")
    how = "full: every entry" if result.full else f"those after entry #{result.after}"
    click.echo(f"checked {result.entries_checked} entries ({how}) in {elapsed:.2f} s"
               + ("" if result.mark_moved else "; the mark did not move (ledger busy)"))


@ledger_cli.command("fund")
@click.option("--tenant", "slug", required=True, help="Slug of the sub-shop to fund.")
@click.option("--amount", required=True, help="Amount in the shop's currency, e.g. 100.00.")
@click.option("--from", "source", type=click.Choice(("funded", "earnings")),
              help="Below the master: pay from the parent's funded account (default) "
                   "or its earnings.")
@click.option("--note", help="Why (shown in the funded account's history).")
def fund(slug, amount, source, note):
    """Credit a sub-shop's funded account (预存款) from its parent.

    The master's funding books money received outside the platform."""
    from kameng.billing.funding.services import fund_by_slug, funded_balance

    tx = fund_by_slug(None, slug, amount, source=source, note=note)
    shop = tenant_by_slug(slug)
    click.echo(f"funded {slug} (transaction {tx.id}, {tx.kind}); funded balance "
               f"{format_money(funded_balance(shop), shop.currency)}")


@balance_cli.command("credit")
@click.option("--tenant", "slug", required=True, help="Slug of the shop.")
@click.option("--email", required=True, help="The account's e-mail on that shop.")
@click.option("--amount", required=True, help="Amount in the shop's currency, e.g. 100.00.")
@click.option("--note", help="Why (shown in the wallet's history).")
def credit(slug, email, amount, note):
    """Credit a customer's wallet on a shop."""
    user, minor, tx = wallets.credit_by_email(slug, email, amount, note)
    balance = wallets.wallet_balance(user)
    currency = tx.entries[0].account.currency
    click.echo(f"credited {format_money(minor, currency)} to {user.email} on {slug} "
               f"(transaction {tx.id}); balance {format_money(balance, currency)}")


@balance_cli.command("show")
@click.option("--tenant", "slug", required=True, help="Slug of the shop.")
@click.option("--email", required=True, help="The account's e-mail on that shop.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(0, 1000),
              help="How many history lines.")
def show(slug, email, limit):
    """Show a wallet's balance and latest movements."""
    tenant = tenant_by_slug(slug)
    user = wallets.find_user(tenant, email)
    account = ledger.find_user_account(user, "wallet")
    currency = account.currency if account else tenant.currency
    click.echo(f"{user.email} on {slug}: {format_money(wallets.wallet_balance(user), currency)}")
    for row in wallets.wallet_history(user, limit=limit) if limit else []:
        tx = row.transaction
        click.echo(f"  {tx.created_at:%Y-%m-%d %H:%M}  {tx.kind:<14} "
                   f"{format_money(row.entry.amount, currency):>14}  "
                   f"→ {format_money(row.balance_after, currency):>14}"
                   f"{'  ' + tx.reference if tx.reference else ''}"
                   f"{'  ' + tx.memo if tx.memo else ''}")
