"""Earnings reports: balances, daily sales and margin, statements, the whole tree.

Everything reads the ledger (money) and the commission shares (what was sold
at what cost); nothing here writes. A shop's numbers are filtered by its id
explicitly: ledger accounts are not tenant-scoped.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import lazyload

from kameng.billing.commissions import rollup
from kameng.billing.commissions.models import Commission, CommissionRollup
from kameng.billing.ledger.models import Account, Entry, Transaction
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.core.money import format_money, format_plain
from kameng.core.pagination import forward_page
from kameng.core.scoping import all_tenants
from kameng.tenants.models import Tenant

SHOP_KINDS = ("earnings_pending", "earnings_available", "withdrawal_hold", "funded")


@dataclass
class Balances:
    slug: str
    name: str
    depth: int
    currency: str
    pending: int
    available: int
    hold: int
    earned_total: int
    sales: int
    tenant_id: int = 0
    funded: int = 0            # 预存款: the shop's funded account with its parent
    credits_granted: int = 0   # wallet credit it granted from its funded account

    def as_json(self) -> dict:
        return {"slug": self.slug, "currency": self.currency, "pending": self.pending,
                "available": self.available, "withdrawal_hold": self.hold,
                "earned_total": self.earned_total}


def _accounts(tenant_ids: list[int]) -> dict[tuple[int, str], int]:
    rows = db.session.execute(select(Account.tenant_id, Account.kind, Account.balance).where(
        Account.owner_type == "tenant", Account.tenant_id.in_(tenant_ids),
        Account.kind.in_(SHOP_KINDS)))
    out: dict[tuple[int, str], int] = {}
    for tid, kind, balance in rows:
        out[(tid, kind)] = out.get((tid, kind), 0) + int(balance)
    return out


def _earned(tenant_ids: list[int]) -> dict[int, int]:
    """What each shop has earned in all: commissions net of reversals, plan resale margins."""
    return rollup.earned(tenant_ids)


def _sales(tenant_ids: list[int]) -> dict[int, int]:
    with all_tenants():
        rows = db.session.execute(
            select(Commission.tenant_id, func.coalesce(func.sum(Commission.amount), 0))
            .where(Commission.tenant_id.in_(tenant_ids), Commission.status != "reversed")
            .group_by(Commission.tenant_id))
        return {tid: int(total) for tid, total in rows}


def _credits_granted(tenant_ids: list[int]) -> dict[int, int]:
    """Wallet credit each shop granted out of its funded account, net of reversals."""
    rows = db.session.execute(
        select(Account.tenant_id, func.coalesce(func.sum(Entry.amount), 0))
        .join(Entry, Entry.account_id == Account.id)
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .where(Account.owner_type == "tenant", Account.tenant_id.in_(tenant_ids),
               Account.kind == "funded", Transaction.kind == "wallet_credit_funded")
        .group_by(Account.tenant_id))
    return {tid: -int(total) for tid, total in rows}


def balances(tenants: list[Tenant]) -> list[Balances]:
    ids = [t.id for t in tenants]
    accounts, earned, sales = _accounts(ids), _earned(ids), _sales(ids)
    granted = _credits_granted(ids)
    return [Balances(slug=t.slug, name=t.name, depth=t.depth, currency=t.currency,
                     pending=accounts.get((t.id, "earnings_pending"), 0),
                     available=accounts.get((t.id, "earnings_available"), 0),
                     hold=accounts.get((t.id, "withdrawal_hold"), 0),
                     earned_total=earned.get(t.id, 0), sales=sales.get(t.id, 0),
                     tenant_id=t.id, funded=accounts.get((t.id, "funded"), 0),
                     credits_granted=granted.get(t.id, 0))
            for t in tenants]


def shop_balances(tenant: Tenant) -> Balances:
    return balances([tenant])[0]


def tree(root: Tenant | None = None) -> list[Balances]:
    """Every shop below ``root`` (all shops by default), in tree order (the CLI)."""
    stmt = select(Tenant).order_by(Tenant.path)
    if root is not None:
        stmt = stmt.where(Tenant.path.startswith(root.path))
    return balances(list(db.session.scalars(stmt)))


TREE_PAGE = 50


def tree_page(after: str | None = None, size: int | None = None
              ) -> tuple[list[Balances], str | None]:
    """One page of every shop, in tree order after the path ``after``, with its sums,
    and the ``after`` of the next page (None on the last one).

    A page costs the same whatever the number of shops: the shops come from the path
    index (keyset, no OFFSET) and every sum is restricted to the page's shops, read
    through the indexes on the accounts' and the commissions' shop."""
    page = forward_page(select(Tenant).options(lazyload(Tenant.parent)), Tenant.path,
                        size or TREE_PAGE, after)
    return balances(page.rows), page.after


# ----- per day ------------------------------------------------------------------------

@dataclass
class DayRow:
    day: date
    orders: int = 0
    sales: int = 0
    cost: int = 0
    margin: int = 0
    earnings: int = 0


def daily(tenant: Tenant, days: int = 30, today: date | None = None) -> list[DayRow]:
    """Sales, cost, margin and net earnings of the shop per day (delivered, not refunded)."""
    today = today or utcnow().date()
    start = today - timedelta(days=days - 1)
    rows = {start + timedelta(days=i): DayRow(start + timedelta(days=i)) for i in range(days)}
    found = rollup.shop_figures(
        tenant.id, rolled_key=CommissionRollup.day,
        rolled_where=(CommissionRollup.day >= start, CommissionRollup.day <= today),
        live_key=Commission.day, live_where=(Commission.day >= start, Commission.day <= today))
    for day, n, sales, cost, margin, net in found:
        row = rows.get(day)
        if row is not None:
            row.orders, row.sales = row.orders + int(n or 0), row.sales + int(sales or 0)
            row.cost, row.margin = row.cost + int(cost or 0), row.margin + int(margin or 0)
            row.earnings += int(net or 0)
    return [rows[d] for d in sorted(rows)]


@dataclass
class ChartBar:
    x: str
    y: str
    width: str
    height: str
    title: str      # plain text: the template escapes it


@dataclass
class Chart:
    """Sales as bars, net earnings as a line: the numbers ``admin/_chart.html`` draws as
    SVG. Coordinates are preformatted numbers, labels plain text the template escapes."""
    width: int
    height: int
    left: int
    top: int
    base: int
    top_label: str
    bars: list[ChartBar]
    ticks: list[tuple[str, str]]     # (x, "MM-DD")
    points: str                      # the earnings line, "x,y x,y …"


def chart(rows: list[DayRow], currency: str, width: int = 720, height: int = 220) -> Chart:
    """The per-day chart of ``rows`` (from ``daily``)."""
    pad_l, pad_b, pad_t = 64, 24, 12
    inner_w, inner_h = width - pad_l - 8, height - pad_b - pad_t
    top = max([r.sales for r in rows] + [r.earnings for r in rows] + [1])
    n = max(len(rows), 1)
    step = inner_w / n

    def y(value: int) -> float:
        return pad_t + inner_h - inner_h * max(value, 0) / top

    bars, ticks, points = [], [], []
    for i, row in enumerate(rows):
        x = pad_l + i * step
        bars.append(ChartBar(x=f"{x + step * 0.15:.1f}", y=f"{y(row.sales):.1f}",
                             width=f"{step * 0.7:.1f}",
                             height=f"{pad_t + inner_h - y(row.sales):.1f}",
                             title=f"{row.day:%Y-%m-%d} {format_money(row.sales, currency)}"))
        points.append(f"{x + step / 2:.1f},{y(row.earnings):.1f}")
        if len(rows) <= 31 and (i % 5 == 0 or i == len(rows) - 1):
            ticks.append((f"{x + step / 2:.1f}", f"{row.day:%m-%d}"))
    return Chart(width=width, height=height, left=pad_l, top=pad_t, base=pad_t + inner_h,
                 top_label=format_money(top, currency), bars=bars, ticks=ticks,
                 points=" ".join(points))


# ----- statement ------------------------------------------------------------------------

@dataclass
class StatementRow:
    entry_id: int
    at: object
    account: str
    kind: str
    reference: str | None
    memo: str | None
    amount: int
    currency: str


def statement(tenant: Tenant, limit: int | None = 100, before_id: int | None = None
              ) -> list[StatementRow]:
    """Every posting on the shop's earnings and withdrawal accounts, newest first."""
    where = (Account.owner_type == "tenant", Account.tenant_id == tenant.id,
             Account.kind.in_(SHOP_KINDS))
    if limit is None:
        stmt = (select(Entry, Transaction, Account)
                .join(Transaction, Transaction.id == Entry.transaction_id)
                .join(Account, Account.id == Entry.account_id)
                .where(Entry.account_id.in_(select(Account.id).where(*where)
                                            .scalar_subquery()))
                .order_by(Entry.id.desc()))
        if before_id is not None:
            stmt = stmt.where(Entry.id < before_id)
        return [StatementRow(e.id, tx.created_at, a.kind, tx.kind, tx.reference, tx.memo,
                             int(e.amount), a.currency)
                for e, tx, a in db.session.execute(stmt)]
    # a page costs the same however long the shop's history and however many accounts
    # and transactions the platform holds: each account's latest ``limit`` entries from
    # the (account, id) index, the newest of those, then those entries and their
    # transactions by primary key (no join the planner could answer by hashing a whole
    # table: the shop's few accounts are known)
    accounts = {aid: (kind, currency) for aid, kind, currency in db.session.execute(
        select(Account.id, Account.kind, Account.currency).where(*where))}
    ids: list[int] = []
    for account_id in accounts:
        latest = select(Entry.id).where(Entry.account_id == account_id)
        if before_id is not None:
            latest = latest.where(Entry.id < before_id)
        ids.extend(db.session.scalars(latest.order_by(Entry.id.desc()).limit(limit)))
    ids = sorted(ids, reverse=True)[:limit]
    if not ids:
        return []
    entries = db.session.execute(select(Entry.id, Entry.transaction_id, Entry.account_id,
                                        Entry.amount).where(Entry.id.in_(ids))).all()
    txs = {row.id: row for row in db.session.execute(
        select(Transaction.id, Transaction.created_at, Transaction.kind,
               Transaction.reference, Transaction.memo)
        .where(Transaction.id.in_({e.transaction_id for e in entries})))}
    out = []
    for e in sorted(entries, key=lambda e: e.id, reverse=True):
        tx, (kind, currency) = txs[e.transaction_id], accounts[e.account_id]
        out.append(StatementRow(e.id, tx.created_at, kind, tx.kind, tx.reference, tx.memo,
                                int(e.amount), currency))
    return out


def statement_csv(tenant: Tenant) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["entry", "time_utc", "account", "kind", "order_or_reference", "memo",
                     "amount", "currency"])
    for row in statement(tenant, limit=None):
        memo = row.memo or ""
        # a spreadsheet must not run what a buyer typed: neutralise formula prefixes
        if memo[:1] in ("=", "+", "-", "@"):
            memo = "'" + memo
        writer.writerow([row.entry_id, f"{row.at:%Y-%m-%d %H:%M:%S}", row.account, row.kind,
                         row.reference or "", memo, format_plain(row.amount, row.currency),
                         row.currency])
    return out.getvalue()


# ----- the platform -----------------------------------------------------------------------

def platform_accounts(currency: str) -> dict:
    """The platform's own accounts, from their cached balances (no entry is summed: the
    tree report shows them on every page whatever the ledger's size)."""
    kinds = ("revenue", "fees", "rounding", "supplier_payable", "payouts")
    found = dict(db.session.execute(select(Account.kind, Account.balance).where(
        Account.owner_type == "platform", Account.kind.in_(kinds),
        Account.currency == currency)).all())
    return {kind: int(found.get(kind, 0)) for kind in kinds}
