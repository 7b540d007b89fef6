"""A shop's view of the orders of its whole subtree, and the manual-delivery queue.

Every shop sees its own orders and those of every shop below it (the materialized
``path`` makes that one indexed condition); never its parent's or a sibling's.
These queries cross tenants on purpose, so they carry the ``all_tenants``
execution option and an explicit subtree condition instead of the request's scope.

Manual fulfilment (人工代充) belongs to whoever owns the product's stock or
supplier. The catalog, stock and suppliers are the master's, so every manual line
is the master's to deliver, whichever shop's site took the order: the master's
queue holds every waiting manual order of the tree; a reseller sees the status of
its own subtree's waiting orders, read-only. The nav badge counts ``manual_queue``
— the same statement the list pages.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, false, func, or_, select
from sqlalchemy.orm import Session, lazyload, selectinload

from kameng.core.extensions import db
from kameng.core.money import format_plain
from kameng.sales.models import ORDER_STATUSES, Order, OrderLine
from kameng.shop.catalog.models import Product
from kameng.tenants.models import Tenant, User
from kameng.tenants.shop_settings import time_zone_of

# the queue's pseudo-status in the filters: paid orders with a manual line not yet delivered
QUEUE = "queue"
WAITING_ORDER = ("paid", "fulfilling")
WAITING_LINE = ("pending", "processing")
CROSS = {"all_tenants": True}


# ----- who fulfils ----------------------------------------------------------------------

def fulfiller_id(product_id: int | None = None) -> int | None:
    """The shop that delivers a manual line of ``product_id``: the owner of the product's
    stock or supplier. Products, stock and suppliers are the master's (the root)."""
    return db.session.scalar(select(Tenant.id).where(Tenant.parent_id.is_(None))
                             .order_by(Tenant.id).limit(1))


def fulfils(tenant: Tenant) -> bool:
    """Does ``tenant`` deliver manual lines (and so hold the queue's buttons)?"""
    return tenant.id == fulfiller_id()


def may_deliver(actor: User | None, order: Order) -> bool:
    """Staff of the fulfilling shop, for an order of its subtree (the CLI passes None)."""
    if actor is None:
        return True
    if not getattr(actor, "is_staff", False) or actor.tenant_id != fulfiller_id():
        return False
    actor_tenant = db.session.get(Tenant, actor.tenant_id)
    return actor_tenant is not None and in_subtree(actor_tenant, order.tenant_id)


# ----- the subtree ------------------------------------------------------------------------

def subtree_ids(tenant: Tenant):
    """A subquery of the ids of ``tenant`` and every shop below it."""
    return select(Tenant.id).where(Tenant.path.startswith(tenant.path)).scalar_subquery()


def in_subtree(tenant: Tenant, tenant_id: int) -> bool:
    shop = db.session.get(Tenant, tenant_id)
    return shop is not None and shop.path.startswith(tenant.path)


def subtree_shops(tenant: Tenant) -> list[Tenant]:
    """``tenant`` and the shops below it, in tree order."""
    # no joined parent: for a few shops of thousands, joining every row's parent made
    # PostgreSQL walk the whole primary key (tests/test_query_plans.py)
    return list(db.session.scalars(select(Tenant).where(Tenant.path.startswith(tenant.path))
                                   .options(lazyload(Tenant.parent)).order_by(Tenant.path)))


def has_subshops(tenant: Tenant) -> bool:
    """Is there a shop below ``tenant``? (one indexed probe, not the subtree's list)"""
    return db.session.scalar(select(exists().where(Tenant.parent_id == tenant.id))) or False


def shop_names(tenant_ids) -> dict[int, str]:
    """``{id: name}`` of the given shops (a page's worth, by primary key)."""
    ids = set(tenant_ids)
    if not ids:
        return {}
    return {tid: name for tid, name in db.session.execute(
        select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids)))}


def find_shop(tenant: Tenant, text: str) -> tuple[Tenant | None, str]:
    """The shop of ``tenant``'s subtree that ``text`` names, and why not if none:
    ``(shop, "")``, ``(None, "unknown")`` or ``(None, "ambiguous")``.

    ``text`` is a shop's id (the links of earlier versions carry ``?shop=<id>``), its
    slug, or its exact name; each is one indexed look-up (primary key, the unique slug,
    ``ix_tenants_name``), never a list of the subtree."""
    text = (text or "").strip()
    if not text:
        return None, "unknown"
    below = Tenant.path.startswith(tenant.path)
    if text.isdigit() and len(text) < 19:
        shop = db.session.get(Tenant, int(text))
        return (shop, "") if shop is not None and shop.path.startswith(tenant.path) \
            else (None, "unknown")
    shop = db.session.scalar(select(Tenant).where(Tenant.slug == text.lower(), below))
    if shop is not None:
        return shop, ""
    named = list(db.session.scalars(select(Tenant).where(Tenant.name == text, below)
                                    .order_by(Tenant.path).limit(2)))
    if len(named) > 1:
        return None, "ambiguous"
    return (named[0], "") if named else (None, "unknown")


def subtree_order(tenant: Tenant, order_no: str) -> Order | None:
    """An order of ``tenant`` or a shop below it, by number (None otherwise)."""
    return db.session.scalar(
        select(Order).where(Order.order_no == (order_no or "").strip().upper(),
                            Order.tenant_id.in_(subtree_ids(tenant)))
        .execution_options(**CROSS))


def manual_waiting():
    """The order has a manual line nobody has delivered yet."""
    return exists().where(OrderLine.order_id == Order.id, OrderLine.kind == "manual",
                          OrderLine.status.in_(WAITING_LINE))


def manual_queue(tenant: Tenant) -> Select:
    """The waiting manual orders of ``tenant``'s subtree (the list and the badge)."""
    return (select(Order).where(Order.tenant_id.in_(subtree_ids(tenant)),
                                Order.status.in_(WAITING_ORDER), manual_waiting())
            .execution_options(**CROSS))


def manual_queue_count(tenant: Tenant) -> int:
    stmt = manual_queue(tenant)
    return int(db.session.scalar(select(func.count()).select_from(stmt.subquery())
                                 .execution_options(**CROSS)) or 0)


# ----- filters ------------------------------------------------------------------------------

@dataclass
class OrderFilter:
    """What the orders page filters by; every field optional. Dates are the viewing
    shop's calendar days (``since`` and ``until`` both included)."""
    shop_id: int | None = None
    status: str = ""
    shop: str = ""       # what the shop field says: an id, a slug or a name
    shop_problem: str = ""   # "unknown" / "ambiguous": the shop field named no one shop
    product_id: int | None = None
    since: date | None = None
    until: date | None = None
    q: str = ""          # order number, or part of the contact

    @classmethod
    def from_args(cls, args) -> OrderFilter:
        def day(name):
            try:
                return date.fromisoformat((args.get(name) or "").strip())
            except ValueError:
                return None
        status = (args.get("status") or "").strip()
        shop = (args.get("shop") or "").replace("\x00", "").strip()[:120]
        return cls(shop=shop,
                   shop_id=int(shop) if shop.isdigit() and len(shop) < 19 else None,
                   status=status if status == QUEUE or status in ORDER_STATUSES else "",
                   product_id=args.get("product", type=int) or None,
                   since=day("from"), until=day("to"),
                   q=(args.get("q") or "").strip()[:254])

    def as_args(self) -> dict:
        """The query-string form (for links to the next page and to the CSV)."""
        out = {"shop": self.shop_id or self.shop, "status": self.status, "product": self.product_id,
               "from": self.since.isoformat() if self.since else None,
               "to": self.until.isoformat() if self.until else None, "q": self.q}
        return {k: v for k, v in out.items() if v}


def order_filter(tenant: Tenant, args) -> OrderFilter:
    """The filter of ``args`` with its shop field resolved in ``tenant``'s subtree: a
    shop nobody (or several shops) answers to matches no order, and says so."""
    f = OrderFilter.from_args(args)
    if f.shop:
        shop, f.shop_problem = find_shop(tenant, f.shop)
        if shop is not None:
            f.shop_id, f.shop = shop.id, shop.slug
        else:
            f.shop_id = None
    return f


def _local_midnight_utc(day: date, tenant: Tenant) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(time_zone_of(tenant)))


def subtree_orders(tenant: Tenant, f: OrderFilter) -> Select:
    """The orders of ``tenant``'s subtree that match ``f`` (not ordered)."""
    stmt = select(Order).where(Order.tenant_id.in_(subtree_ids(tenant)))
    if f.shop_id:
        stmt = stmt.where(Order.tenant_id == f.shop_id)
    elif f.shop_problem:
        stmt = stmt.where(false())
    if f.status == QUEUE:
        stmt = stmt.where(Order.status.in_(WAITING_ORDER), manual_waiting())
    elif f.status:
        stmt = stmt.where(Order.status == f.status)
    if f.product_id:
        stmt = stmt.where(exists().where(OrderLine.order_id == Order.id,
                                         OrderLine.product_id == f.product_id))
    if f.since:
        stmt = stmt.where(Order.created_at >= _local_midnight_utc(f.since, tenant))
    if f.until:
        stmt = stmt.where(Order.created_at < _local_midnight_utc(f.until + timedelta(days=1),
                                                                 tenant))
    if f.q:
        like = f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(or_(Order.order_no == f.q.upper(),
                              func.lower(Order.contact).like(f"%{like.lower()}%",
                                                             escape="\\")))
    return stmt.execution_options(**CROSS)


def orders_by_id() -> Select:
    """Orders of any shop (the caller names them by id: a page of ``subtree_orders``)."""
    return select(Order).execution_options(**CROSS)


def products_sold(tenant: Tenant) -> list[tuple[int, str]]:
    """(id, name) of the products the filter offers: the catalog, by name."""
    return [(pid, name) for pid, name in db.session.execute(
        select(Product.id, Product.name).order_by(Product.name, Product.id))]


# ----- CSV -----------------------------------------------------------------------------------

CSV_HEADER = ("order", "shop", "placed", "paid", "delivered", "status", "items", "contact",
              "payment", "amount", "currency")
BATCH = 500


def _cell(value: str) -> str:
    # a spreadsheet must not run what a buyer typed: neutralise formula prefixes
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def orders_csv(tenant: Tenant, f: OrderFilter) -> Iterator[str]:
    """The filtered orders as CSV, newest first, streamed in batches: UTF-8 with a BOM (so
    Excel reads Chinese), amounts in major units, times in ``tenant``'s zone, shops by name.

    What the rows need is read now; the rows are read while the response streams, in a
    session of their own (the request's is gone by then), one batch at a time."""
    zone = ZoneInfo(time_zone_of(tenant))
    return _csv_rows(db.engine, subtree_orders(tenant, f), zone)


def _csv_rows(engine, query: Select, zone: ZoneInfo) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    def when(value: datetime | None) -> str:
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    writer.writerow(CSV_HEADER)
    yield "\ufeff" + flush()
    before = None
    with Session(engine) as session:
        while True:
            stmt = query if before is None else query.where(Order.id < before)
            rows = list(session.scalars(stmt.order_by(Order.id.desc()).limit(BATCH)
                                        .options(selectinload(Order.lines))))
            # the names of this batch's shops only: the subtree may hold thousands
            ids = {order.tenant_id for order in rows}
            names = {tid: name for tid, name in session.execute(
                select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids)))} if ids else {}
            for order in rows:
                items = "; ".join(f"{ln.name} x {ln.quantity}" for ln in order.lines)
                writer.writerow([
                    order.order_no, _cell(names.get(order.tenant_id, "")),
                    when(order.created_at), when(order.paid_at), when(order.delivered_at),
                    order.status, _cell(items), _cell(order.contact),
                    order.payment_method or "", format_plain(order.amount, order.currency),
                    order.currency])
            count, last = len(rows), rows[-1].id if rows else None
            # no transaction stays open while the client reads (SQLite's would hold the
            # write lock), and a long export holds one batch at a time
            session.rollback()
            session.expunge_all()
            if count:
                yield flush()
            if count < BATCH:
                break
            before = last


def awaiting_funds_count(tenant: Tenant) -> int:
    """The shop's own orders, paid on its own gateway, that wait for its funded account."""
    return db.session.scalar(select(func.count()).select_from(Order).where(
        Order.tenant_id == tenant.id, Order.status == "awaiting_funds")) or 0


def customer_orders(tenant: Tenant, customer_id: int, before: int | None = None,
                    size: int = 20):
    """A page of one customer's orders in this shop, newest first."""
    from kameng.core.pagination import keyset_page

    return keyset_page(select(Order).where(Order.tenant_id == tenant.id,
                                           Order.customer_id == customer_id),
                       Order.id, size, before)
