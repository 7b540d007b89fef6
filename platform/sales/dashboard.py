"""The back office's home page: a shop's figures at a glance.

Sales, orders and earnings for today, 7 and 30 days — calendar days in the shop's
time zone — read from the commission shares (what each shop sold, at what cost,
net of fees: the same source as the earnings page), aggregated in one SQL
statement that buckets by local day; the 30-day chart; stock alerts for the shop
that owns stock; withdrawals waiting for a decision; waiting manual orders.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, select

from kameng.billing import reports
from kameng.billing.commissions import rollup
from kameng.billing.commissions.models import Commission, CommissionRollup
from kameng.billing.withdrawals import services as withdrawals
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales import oversight
from kameng.sales.models import Order
from kameng.shop.stock.services import stock_report
from kameng.tenants.models import Tenant
from kameng.tenants.shop_settings import time_zone_of

DAYS = 30
PERIODS = (1, 7, 30)
ALERTS = 20
OLDEST = 5


@dataclass
class Period:
    days: int
    sales: int = 0
    orders: int = 0
    earnings: int = 0


@dataclass
class Dashboard:
    currency: str
    periods: list[Period]
    days: list[reports.DayRow]
    chart: reports.Chart
    stock_alerts: list[dict] = field(default_factory=list)
    owns_stock: bool = False
    to_approve: int = 0
    own_pending: int = 0
    manual_waiting: int = 0
    manual_oldest: list[Order] = field(default_factory=list)
    shop_names: dict[int, str] = field(default_factory=dict)


def daily(tenant: Tenant, days: int = DAYS, now: datetime | None = None
          ) -> list[reports.DayRow]:
    """The shop's delivered sales, orders and net earnings per calendar day in its zone,
    the last ``days`` days up to today (not reversed)."""
    zone = ZoneInfo(time_zone_of(tenant))
    today = (now or utcnow()).astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    bounds = [datetime.combine(first + timedelta(days=i), time(0), zone)
              for i in range(days + 1)]
    at = Commission.created_at
    bucket = case(*[(and_(at >= bounds[i], at < bounds[i + 1]), i) for i in range(days)],
                  else_=-1).label("bucket")
    rows = [reports.DayRow(first + timedelta(days=i)) for i in range(days)]
    slot = CommissionRollup.slot
    # a rolled-up quarter hour falls in one local day: every zone's midnight is on one
    rolled = case(*[(and_(slot >= bounds[i], slot < bounds[i + 1]), i) for i in range(days)],
                  else_=-1).label("bucket")
    found = rollup.shop_figures(
        tenant.id, rolled_key=rolled, rolled_where=(slot >= bounds[0], slot < bounds[-1]),
        live_key=bucket, live_where=(at >= bounds[0], at < bounds[-1]))
    for i, n, sales, cost, margin, net in found:
        if 0 <= i < days:
            row = rows[i]
            row.orders, row.sales = row.orders + int(n or 0), row.sales + int(sales or 0)
            row.cost, row.margin = row.cost + int(cost or 0), row.margin + int(margin or 0)
            row.earnings += int(net or 0)
    return rows


def periods(rows: list[reports.DayRow]) -> list[Period]:
    out = []
    for days in PERIODS:
        p = Period(days)
        for row in rows[-days:]:
            p.sales, p.orders, p.earnings = (p.sales + row.sales, p.orders + row.orders,
                                             p.earnings + row.earnings)
        out.append(p)
    return out


def dashboard(tenant: Tenant, *, owner: bool, now: datetime | None = None) -> Dashboard:
    rows = daily(tenant, DAYS, now)
    board = Dashboard(currency=tenant.currency, periods=periods(rows), days=rows,
                      chart=reports.chart(rows, tenant.currency))
    board.owns_stock = oversight.fulfils(tenant)
    if board.owns_stock:
        board.stock_alerts = stock_report(only_low=True, now=now)[:ALERTS]
    if owner:
        board.to_approve = len(withdrawals.reviewable(tenant, "requested"))
        board.own_pending = sum(1 for w in withdrawals.shop_withdrawals(tenant)
                                if w.status in ("requested", "approved"))
    board.manual_waiting = oversight.manual_queue_count(tenant)
    if board.manual_waiting:
        board.manual_oldest = list(db.session.scalars(
            oversight.manual_queue(tenant).order_by(Order.id).limit(OLDEST)))
        ids = {o.tenant_id for o in board.manual_oldest}
        board.shop_names = dict(db.session.execute(
            select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids))).all())
    return board
