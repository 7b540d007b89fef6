"""Placing, paying, refunding and expiring orders. Each operation owns its transaction.

Every status change is a conditional UPDATE (``WHERE status IN expected``) whose
row count is checked, so a repeated webhook, a second job run or two racing
requests change nothing the second time.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, func, insert, inspect, literal_column, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from kameng.billing import wallets
from kameng.billing.ledger import services as ledger
from kameng.billing.payments.registry import is_own_gateway, own_gateway_allowed
from kameng.core import audit
from kameng.core.errors import Conflict, InvalidInput, NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.passwords import hash_lookup_password, verify_lookup_password
from kameng.sales import backpressure, coupons, outbox
from kameng.sales.funding import record_own_payment_in_txn
from kameng.sales.models import Order, OrderLine, OutboxMessage
from kameng.sales.numbers import new_order_no
from kameng.shop.catalog import services as catalog
from kameng.shop.catalog import snapshots
from kameng.shop.catalog.models import Product
from kameng.shop.pricing.services import chain_prices
from kameng.shop.stock import allocation
from kameng.tenants.models import Tenant, User

PAYMENT_METHODS = ("balance", "stripe", "epay")
CONTACT_MAX = 254


class OutOfStock(Conflict):
    code = "out_of_stock"


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency_key_reused"


class TooManyUnpaid(ServiceError):
    """The client already holds as many unpaid orders (or reserved units) in this shop as
    ``KAMENG_MAX_UNPAID_ORDERS`` / ``KAMENG_MAX_UNPAID_UNITS`` allow."""

    code, status = "too_many_unpaid_orders", 429


@dataclass
class Placed:
    order: Order
    created: bool          # False when an idempotency key returned an earlier order
    queued: list[outbox.Pending]


# ----- reading -----------------------------------------------------------------

def get_order(order_no: str) -> Order:
    """An order of the current tenant scope (another shop's number is not found)."""
    order = db.session.scalar(select(Order).where(Order.order_no == (order_no or "").strip()))
    if order is None:
        raise NotFound(_l("no such order"))
    return order


def order_codes(order: Order) -> list[str]:
    """Every code delivered on the order, decrypted; empty until it is delivered."""
    if order.status != "delivered":
        return []
    from kameng.sales.delivery import line_codes

    codes: list[str] = []
    for line in order.lines:
        codes.extend(line_codes(line))
    return codes


def lookup(order_no: str, contact: str, password: str) -> Order | None:
    """Guest lookup: the order only when number, contact and password all match.

    The password is always verified (against a dummy hash when there is no such
    order), so a wrong number and a wrong password take the same time.
    """
    order = db.session.scalar(select(Order).where(Order.order_no == (order_no or "").strip()))
    stored = order.lookup_hash if order is not None else None
    ok = verify_lookup_password(stored, password or "")
    if not ok or order is None or order.contact.lower() != (contact or "").strip().lower():
        return None
    return order


LOOKUP_MAX_ORDERS = 20


def lookup_by_contact(tenant: Tenant, contact: str, password: str) -> list[Order]:
    """Guest lookup without a number: the buyer's recent guest orders on ``tenant`` whose
    contact and lookup password match, newest first (at most ``LOOKUP_MAX_ORDERS``).

    A miss costs exactly one hash verification whether or not the contact has orders: the
    newest order's hash is tried first (a dummy hash when there is none), and only a match
    goes on to the older ones (each order has its own salted hash).
    """
    contact = (contact or "").strip()
    candidates = db.session.scalars(
        select(Order).where(Order.tenant_id == tenant.id, Order.customer_id.is_(None),
                            Order.lookup_hash.is_not(None),
                            func.lower(Order.contact) == contact.lower())
        .order_by(Order.id.desc()).limit(LOOKUP_MAX_ORDERS)).all() if contact else []
    newest = candidates[0] if candidates else None
    if not verify_lookup_password(newest.lookup_hash if newest else None, password or ""):
        return []
    return [newest] + [order for order in candidates[1:]
                       if verify_lookup_password(order.lookup_hash, password or "")]


# ----- placing -----------------------------------------------------------------

def _sellable(tenant: Tenant, sku: str) -> Product:
    # a read-only snapshot (no query): only its columns are read, never its stock count
    product, hidden_here = snapshots.product_on_shop(tenant, sku)
    if product is None or product.status == "hidden" or hidden_here:
        raise NotFound(_l("no product %(sku)r on this shop", sku=sku), field="sku")
    if product.status == "sold_out":
        raise OutOfStock(_l("%(sku)s is sold out", sku=product.sku))
    return product


def _quantity(product: Product, quantity) -> int:
    try:
        quantity = int(quantity)
    except (TypeError, ValueError):
        raise InvalidInput(_l("quantity must be a whole number"), field="quantity") from None
    if not product.min_quantity <= quantity <= product.max_quantity:
        raise InvalidInput(_l("quantity must be between %(min_quantity)s and "
                              "%(max_quantity)s",
                              min_quantity=product.min_quantity, max_quantity=product.max_quantity),
                           field="quantity")
    return quantity


def _guest_contact(contact: str | None, password: str | None) -> tuple[str, str]:
    contact = (contact or "").strip()
    if not contact or len(contact) > CONTACT_MAX or any(ord(c) < 32 for c in contact):
        raise InvalidInput(_l("give an e-mail address or phone number to find the order later"),
                           field="contact")
    if not password or len(password) < 4 or len(password) > 128:
        raise InvalidInput(_l("choose a lookup password of at least 4 characters"),
                           field="lookup_password")
    return contact, password


def place_order(tenant: Tenant, *, sku: str, quantity=1, fields: dict | None = None,
                customer: User | None = None, contact: str | None = None,
                lookup_password: str | None = None, payment_method: str = "balance",
                idempotency_key: str | None = None, source: str = "web",
                locale: str | None = None, client_ip: str | None = None,
                coupon: str | None = None) -> Placed:
    """Create an order, reserve its stock and, for ``balance``, pay it — all or nothing.

    ``coupon``: a code of this shop (``kameng.sales.coupons``), applied after the member
    tier and the quantity discount, redeemed in the order's transaction.

    Raises ``OutOfStock`` (409), ``InsufficientBalance`` (402), ``InvalidInput``
    (422, naming the field) or ``NotFound``; nothing is written then.
    """
    if payment_method not in PAYMENT_METHODS:
        raise InvalidInput(_l("unknown payment method %(payment_method)r",
                              payment_method=payment_method), field="payment_method")
    if customer is not None and customer.tenant_id != tenant.id:
        raise NotFound(_l("no such account on this shop"))
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()
        if not 1 <= len(idempotency_key) <= 128:
            raise InvalidInput(_l("Idempotency-Key must be 1–128 characters"),
                               field="idempotency_key")
    if payment_method == "balance" and customer is None:
        raise InvalidInput(_l("log in to pay from your balance"), field="payment_method")
    # no look-up first (every API order would pay for it): the unique (tenant,
    # customer, key) index decides; a refusal looks for an earlier order, since a
    # retry must get its order back even if the product has sold out since
    try:
        return _place(tenant, sku, quantity, fields, customer, contact, lookup_password,
                      payment_method, idempotency_key, source, locale, client_ip, coupon)
    except ServiceError:
        earlier = (_by_idempotency_key(tenant, customer, idempotency_key)
                   if idempotency_key else None)
        if earlier is None:
            raise
        return _replay(earlier, sku, quantity, fields)


def _place(tenant, sku, quantity, fields, customer, contact, lookup_password,
           payment_method, idempotency_key, source, locale, client_ip, coupon=None) -> Placed:
    if payment_method == "balance":
        # paid at once, so straight to the workers: not while they are far behind
        # (one cached Redis read; a retry of an order placed before still gets it back)
        backpressure.check()
    product = _sellable(tenant, sku)
    quantity = _quantity(product, quantity)
    cleaned = catalog.validate_buyer_fields(product, fields or {})
    lookup_hash = None
    if customer is None:
        contact, password = _guest_contact(contact, lookup_password)
    if payment_method != "balance":   # paid at once otherwise: it reserves nothing unpaid
        _check_unpaid_cap_in_txn(tenant, customer, contact, client_ip, quantity)
    if customer is None:
        lookup_hash = hash_lookup_password(password)
    else:
        contact = (contact or "").strip()[:CONTACT_MAX] or customer.email

    levels = chain_prices(tenant, product, quantity, customer)
    unit_price = levels[-1].price
    applied = None
    if (coupon or "").strip():
        # after the tier and the quantity discount; at most the shop's own margin
        applied = coupons.quote_in_txn(tenant, coupon, product, quantity, unit_price,
                                       levels[-1].cost)
    discount = applied.discount if applied else 0
    now = utcnow()
    order = Order(
        tenant_id=tenant.id, order_no=new_order_no(), status="pending",
        customer_id=customer.id if customer else None, contact=contact,
        lookup_hash=lookup_hash, currency=tenant.currency,
        amount=unit_price * quantity - discount, discount=discount,
        coupon_code=applied.coupon.code if applied else None,
        payment_method=payment_method, idempotency_key=idempotency_key, source=source,
        locale=locale, client_ip=client_ip,
        expires_at=now + timedelta(minutes=current_app.config["RESERVATION_MINUTES"]),
    )
    line = OrderLine(
        tenant_id=tenant.id, product_id=product.id, sku=product.sku, name=product.name,
        kind=product.kind, quantity=quantity, unit_price=unit_price,
        amount=unit_price * quantity - discount, discount=discount, fields=cleaned,
        chain=[{"tenant_id": lv.tenant_id, "cost": lv.cost, "price": lv.price}
               for lv in levels],
    )
    # fixed for the life of the line: every supplier retry sends the same key
    line.supplier_key = f"{order.order_no}-1"
    order.lines.append(line)
    if payment_method == "balance":
        # paid in the same transaction that creates it, or not created at all
        order.status, order.paid_at = "paid", now
    try:
        claim = quantity if product.kind == "card" and not product.loop_code else 0
        written = _insert_in_txn(order, line, claim=claim,
                                 paid_outbox=payment_method == "balance")
        if applied is not None:
            coupons.redeem_in_txn(applied, order,
                                  coupons.buyer_key(order.customer_id, order.contact))
        if written.claimed is not None:   # the codes were claimed by the same statement
            if written.claimed != quantity:
                raise OutOfStock(_l("out of stock: %(quantity)s wanted, %(got)s available",
                                    quantity=quantity, got=written.claimed))
            allocation.claimed_in_txn(product.id, quantity)
        elif product.kind == "card":
            try:
                allocation.reserve_codes_in_txn(product.id, quantity, line.id,
                                                order.expires_at, fresh=True,
                                                loop_code=bool(product.loop_code))
            except Conflict as err:
                if err.code == "out_of_stock":
                    raise OutOfStock(err.message) from None
                raise
        queued = []
        if payment_method == "balance":
            clearing = ledger.platform_account("sales_clearing", order.currency)
            wallets.spend_from_wallet_in_txn(customer, order.amount, f"order:{order.order_no}:pay",
                                             order.order_no, clearing)
            queued = [outbox.written(written.outbox_id, "order.paid", order.tenant_id, order.id)
                      if written.outbox_id is not None
                      else outbox.add("order.paid", order.tenant_id, order.id)]
        columns = _columns(order)
        db.session.commit()
    except IntegrityError:
        _forget(order, line)
        db.session.rollback()
        earlier = (_by_idempotency_key(tenant, customer, idempotency_key)
                   if idempotency_key else None)
        if earlier is None:
            raise
        return _replay(earlier, sku, quantity, fields)
    except ServiceError:
        _forget(order, line)
        db.session.rollback()
        raise
    except BaseException:
        _forget(order, line)
        raise
    # the row holds exactly what was written: no SELECT to read it back
    for key, value in columns.items():
        set_committed_value(order, key, value)
    return Placed(order, True, queued)


@dataclass
class _Written:
    claimed: int | None = None     # codes claimed for the line by the same statement
    outbox_id: int | None = None   # its "order.paid" outbox row, when it wrote one


def _insert_in_txn(order: Order, line: OrderLine, *, claim: int = 0,
                   paid_outbox: bool = False) -> _Written:
    """INSERT the new order and its line as Core statements and put both in the session
    as persistent, loaded objects (the unit of work's flush of the two cost more web
    CPU than any other step of an API order).

    On PostgreSQL ONE statement of CTEs that reads the order's RETURNING id: the order,
    the line, with ``claim`` > 0 the claim of that many of the product's codes for the
    line (``allocation.claim_update``), with ``paid_outbox`` the "order.paid" outbox
    row. On SQLite two statements, and the caller claims and writes the outbox row the
    usual way (``_Written`` says which were done)."""
    params = {f"o_{k}": v for k, v in _row(order, Order.__table__).items()}
    params.update((f"l_{k}", v) for k, v in _row(line, OrderLine.__table__).items()
                  if k != "order_id")
    written = _Written()
    if db.session.get_bind().dialect.name == "postgresql":
        if claim:
            params.update(pick_product=line.product_id, pick_quantity=claim,
                          claim_until=order.expires_at)
        if paid_outbox:
            params["ob_created_at"] = order.created_at
        # NULL columns left out when NULL: psycopg caches its conversion of a statement's
        # text only up to 50 parameters (and 4096 characters), and rebuilt it per order
        sparse = all(params[name] is None for name in _UNSET_AT_PLACEMENT)
        row = db.session.execute(_fused_statement(bool(claim), paid_outbox, sparse),
                                 params).one()
        order_id, line_id = row.order_id, row.line_id
        written = _Written(row.claimed if claim else None,
                           row.outbox_id if paid_outbox else None)
    else:
        insert_order, insert_line = _order_statements()
        order_id = db.session.execute(insert_order, params).scalar_one()
        line_id = db.session.execute(insert_line, {**params, "l_order_id": order_id}
                                     ).scalar_one()
    order.id, line.id, line.order_id = order_id, line_id, order_id
    # the rows hold exactly these values: known to the session without a flush or SELECT
    make_transient_to_detached(order)
    make_transient_to_detached(line)
    set_committed_value(order, "lines", [line])
    set_committed_value(line, "order", order)
    db.session.add(order)
    return written


def _columns_of(table, prefix: str, skip=()) -> dict:
    return {c: bindparam(f"{prefix}_{c.key}", type_=c.type) for c in table.c
            if not c.primary_key and c.key not in skip}


# the columns a new order and its line always leave NULL (written later, by payment,
# delivery, refund or a supplier): the fused statement leaves them out while they are
_ORDER_UNSET = ("payment_ref", "delivered_at", "refunded_at", "failure_reason", "refund_kind",
                "collected_by_tenant_id", "funded_amount")
_LINE_UNSET = ("supplier_ref", "claimed_at", "delivery_ciphertext", "delivery_key_id", "note")
_UNSET_AT_PLACEMENT = (tuple(f"o_{c}" for c in _ORDER_UNSET)
                       + tuple(f"l_{c}" for c in _LINE_UNSET))


@functools.cache
def _order_statements() -> tuple:
    """SQLite's two INSERTs, built once (building and cache-keying a statement this size
    costs as much as running it): parameters ``o_<column>`` for the order,
    ``l_<column>`` for the line."""
    orders, lines = Order.__table__, OrderLine.__table__
    insert_order = insert(orders).values(_columns_of(orders, "o")).returning(orders.c.id)
    insert_line = insert(lines).values(_columns_of(lines, "l")).returning(lines.c.id)
    return insert_order, insert_line


@functools.cache
def _fused_statement(claim: bool, paid_outbox: bool, sparse: bool = False):
    """PostgreSQL's one statement (see ``_insert_in_txn``), built once per variant;
    answers (order_id, line_id, claimed, outbox_id). ``sparse``: without the columns
    of ``_UNSET_AT_PLACEMENT`` (NULL by default)."""
    orders, lines, outbox_rows = Order.__table__, OrderLine.__table__, OutboxMessage.__table__
    order_skip, line_skip = (_ORDER_UNSET, _LINE_UNSET) if sparse else ((), ())
    new_order = (insert(orders).values(_columns_of(orders, "o", skip=order_skip))
                 .returning(orders.c.id).cte("new_order"))
    line_values = _columns_of(lines, "l", skip=("order_id", *line_skip))
    new_line = (insert(lines)
                .from_select(["order_id", *(c.key for c in line_values)],
                             select(new_order.c.id, *line_values.values()))
                .returning(lines.c.id).cte("new_line"))
    ctes = [new_order, new_line]
    columns = [select(new_order.c.id).scalar_subquery().label("order_id"),
               select(new_line.c.id).scalar_subquery().label("line_id")]
    if claim:
        claimed = (allocation.claim_update(select(new_line.c.id).scalar_subquery())
                   .cte("claimed"))
        ctes.append(claimed)
        columns.append(select(func.count()).select_from(claimed).scalar_subquery()
                       .label("claimed"))
    if paid_outbox:
        # the code's constants as SQL literals: fewer parameters (never data of a request)
        new_outbox = (insert(outbox_rows)
                      .from_select(["tenant_id", "ref_id", "topic", "payload", "attempts",
                                    "created_at"],
                                   select(bindparam("o_tenant_id"), new_order.c.id,
                                          literal_column("'order.paid'::varchar"),
                                          literal_column("'{}'::json"), literal_column("0"),
                                          bindparam("ob_created_at",
                                                    type_=outbox_rows.c.created_at.type)))
                      .returning(outbox_rows.c.id).cte("new_outbox"))
        ctes.append(new_outbox)
        columns.append(select(new_outbox.c.id).scalar_subquery().label("outbox_id"))
    return select(*columns).add_cte(*ctes)


def _forget(*objects) -> None:
    """Take the new order's objects out of the session before a rollback: added as
    persistent (``_insert_in_txn``), a rollback would keep them, expired, under ids
    that SQLite hands out again."""
    for obj in objects:
        if obj in db.session:
            db.session.expunge(obj)


def _row(obj, table) -> dict:
    """The object's column values as the INSERT writes them, the columns' Python-side
    defaults filled in (and every one set on the object, which then matches its row)."""
    state = obj.__dict__
    values = {}
    for column in table.c:
        if column.primary_key:
            continue
        value = state.get(column.key)
        if value is None and column.default is not None:
            default = column.default
            value = default.arg(None) if default.is_callable else default.arg
        if column.key not in state or state[column.key] is not value:
            setattr(obj, column.key, value)   # every column loaded: none read back later
        values[column.key] = value
    return values


def _check_unpaid_cap_in_txn(tenant: Tenant, customer: User | None, contact: str,
                             client_ip: str | None, quantity: int) -> None:
    """Refuse an order that would take the client past the unpaid-order cap of the shop.

    The client is the signed-in customer, else the guest's address (as ProxyFix sees it:
    a guest cannot choose it, whereas anyone could type someone else's contact and
    block them), else — an order placed with no address — the contact. On PostgreSQL a
    transaction-scoped advisory lock per shop and client makes racing checkouts of one
    client count one after the other (SQLite runs one writer at a time anyway)."""
    cfg = current_app.config
    max_orders = int(cfg.get("MAX_UNPAID_ORDERS") or 0)
    max_units = int(cfg.get("MAX_UNPAID_UNITS") or 0)
    if max_orders <= 0 and max_units <= 0:
        return
    if customer is not None:
        who, mine = f"customer:{customer.id}", Order.customer_id == customer.id
    elif client_ip:
        who, mine = f"ip:{client_ip}", (Order.client_ip == client_ip) & Order.customer_id.is_(None)
    else:
        who = f"contact:{contact.lower()}"
        mine = (func.lower(Order.contact) == contact.lower()) & Order.customer_id.is_(None)
    if db.session.get_bind().dialect.name == "postgresql":
        digest = hashlib.blake2b(f"unpaid:{tenant.id}:{who}".encode(), digest_size=8).digest()
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": int.from_bytes(digest, "big", signed=True)})
    orders, units = db.session.execute(
        select(func.count(func.distinct(Order.id)), func.coalesce(func.sum(OrderLine.quantity), 0))
        .select_from(Order).join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.tenant_id == tenant.id, Order.status == "pending",
               Order.expires_at > utcnow(), mine)
        .execution_options(all_tenants=True)).one()
    minutes = cfg["RESERVATION_MINUTES"]
    if max_orders > 0 and orders >= max_orders:
        raise TooManyUnpaid(_l(
            "You already have %(count)s unpaid orders in this shop. Pay one of them, or wait "
            "until it expires (after %(minutes)s minutes), before placing another.",
            count=orders, minutes=minutes))
    if max_units > 0 and units + quantity > max_units:
        raise TooManyUnpaid(_l(
            "Unpaid orders may reserve at most %(limit)s items at a time, and yours already "
            "reserve %(units)s. Pay them, or wait until they expire (after %(minutes)s "
            "minutes), or order fewer.", limit=max_units, units=units, minutes=minutes),
            field="quantity")


def _columns(order: Order) -> dict:
    return {attr.key: getattr(order, attr.key) for attr in inspect(Order).column_attrs}


def _replay(earlier: Order, sku, quantity, fields) -> Placed:
    """The earlier order of this key, if it was asked for with the same body.

    A key names one request: the same SKU, quantity and buyer fields (compared
    as the order stored them, cleaned) replay the order; anything else is
    refused, never answered with an order the caller did not ask for.
    """
    line = earlier.lines[0] if earlier.lines else None
    if line is None or not _same_request(line, sku, quantity, fields):
        raise IdempotencyKeyReused(
            _l("this Idempotency-Key was already used for a different order (%(order_no)s: "
               "another SKU, quantity or fields); use a new key for a new order",
               order_no=earlier.order_no), field="idempotency_key")
    return Placed(earlier, False, [])


def _same_request(line: OrderLine, sku, quantity, fields) -> bool:
    try:
        same = line.sku == str(sku or "").strip() and line.quantity == int(quantity)
    except (TypeError, ValueError):
        return False
    stored = line.fields or {}
    if not same or (fields or {}) == stored:
        return same
    product = db.session.get(Product, line.product_id)
    try:
        return catalog.validate_buyer_fields(product, fields or {}) == stored
    except ServiceError:
        return False


def _by_idempotency_key(tenant, customer, key) -> Order | None:
    if customer is None:
        return None
    return db.session.scalar(select(Order).where(
        Order.tenant_id == tenant.id, Order.customer_id == customer.id,
        Order.idempotency_key == key))


# ----- paying ------------------------------------------------------------------

def transition_in_txn(order: Order, expected: tuple[str, ...], new: str, **values) -> bool:
    """Move the order from one of ``expected`` to ``new`` with a conditional UPDATE
    (False when another writer moved it first); nothing is committed."""
    result = db.session.execute(
        update(Order).where(Order.id == order.id, Order.status.in_(expected))
        .values(status=new, **values).execution_options(synchronize_session=False))
    if result.rowcount == 1:
        # the row already holds these values: set them as loaded, so the next flush
        # does not UPDATE the order a second time
        set_committed_value(order, "status", new)
        for key, value in values.items():
            set_committed_value(order, key, value)
        return True
    return False


def _mark_paid_in_txn(order: Order, method: str, provider_ref: str | None
                      ) -> list[outbox.Pending]:
    if not transition_in_txn(order, ("pending", "expired"), "paid", paid_at=utcnow(),
                       payment_method=method, payment_ref=provider_ref):
        return []
    coupons.rehold_in_txn(order)  # paid after it expired: take its coupon's use again
    return [outbox.add("order.paid", order.tenant_id, order.id)]


def record_payment(tenant: Tenant, notice) -> bool:
    """A verified payment notice (webhook/notify/补单) for an order of ``tenant``.

    Returns True when the payment is (now or already) booked; False when the
    notice does not match the order (wrong amount or currency), which the
    provider layer reports as a refusal. A repeated notice is a no-op.
    """
    if not notice.paid:
        return True  # bookkeeping (failed/refunded attempts): nothing to book here
    order = db.session.scalar(select(Order).where(Order.order_no == notice.order_no,
                                                  Order.tenant_id == tenant.id)
                              .execution_options(all_tenants=True))
    if order is None:
        return False
    if notice.amount != order.amount or notice.currency.upper() != order.currency:
        return False
    if order.status not in ("pending", "expired"):
        return True  # booked before: a duplicate or late repeat
    method = notice.provider
    # the master's 易支付 collecting for a sub-shop is the platform's gateway
    own = is_own_gateway(tenant, method) and not getattr(notice, "platform", False)
    if own and not own_gateway_allowed(tenant):
        return False  # the master has not allowed this shop its own gateway: refused
    if own:
        # the shop's own gateway took the money: the parent's price comes out of its
        # funded account, or the order waits for funds (kameng.sales.funding)
        try:
            record_own_payment_in_txn(order, method, notice.provider_ref)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
        return True
    clearing = ledger.platform_account(f"clearing_{method}", order.currency)
    sales = ledger.platform_account("sales_clearing", order.currency)
    try:
        ledger.post_in_txn(f"order:{order.order_no}:pay", "order_payment",
                           [(clearing, -order.amount), (sales, order.amount)],
                           reference=order.order_no, memo=f"{method} {notice.provider_ref}")
        _mark_paid_in_txn(order, method, notice.provider_ref)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return True  # a concurrent delivery of the same notice won
    return True


# ----- refunds and expiry --------------------------------------------------------

def refund_order(order: Order, reason: str, *, actor: User | None = None,
                 from_statuses=("paid", "fulfilling", "failed", "awaiting_funds")) -> bool:
    """``refund_order_in_txn`` as a transaction of its own (commits when it refunded)."""
    done = refund_order_in_txn(order, reason, actor=actor, from_statuses=from_statuses)
    if done:
        db.session.commit()
    return done


def refund_order_in_txn(order: Order, reason: str, *, actor: User | None = None,
                        from_statuses=("paid", "fulfilling", "failed", "awaiting_funds")) -> bool:
    """The full reversal: every posting of the order is reversed, undelivered codes go
    back to stock, delivered codes are voided (recorded, never sold again).

    Money paid from the wallet goes back to the wallet; money paid at a provider
    is refunded there by a job (outbox), after the transaction commits. For an
    order its shop collected on its own gateway, the reversed payment posting is
    the funding (``order_funding``): the parent's price goes back to the shop's
    funded account, and the shop's own gateway refunds the buyer. A
    refund by ``actor`` (staff) is audited in the same transaction. Who may ask
    for it is ``kameng.sales.refunds``'s business (a delivered order: the master).
    False when the order is not (any more) in one of ``from_statuses``.
    """
    if not transition_in_txn(order, tuple(from_statuses), "refunded", refunded_at=utcnow(),
                             failure_reason=(reason or "")[:255], refund_kind="reversal"):
        return False
    if actor is not None:
        audit.record(actor, "order.refund", tenant_id=order.tenant_id,
                     order_no=order.order_no, reason=reason)
    for line in order.lines:
        if line.status != "delivered":
            allocation.release_codes_in_txn(line.id)
            line.status = "refunded"
        elif line.kind == "card":
            # the buyer had the code: it leaves stock for good, with why and where
            allocation.void_sold_codes_in_txn(line.id, reason, order.order_no)
    paid = ledger.transaction_by_key(f"order:{order.order_no}:pay")
    if paid is not None:
        ledger.reverse_in_txn(paid, f"order:{order.order_no}:refund",
                              kind=("order_funding_refund"
                                    if order.collected_by_tenant_id is not None
                                    else "order_refund"))
        if order.payment_method not in ("balance", None):
            outbox.add("order.refund_provider", order.tenant_id, order.id)
    # [issue 5 wiring] take back the commissions of a delivered order, in this transaction
    from kameng.sales.commissions import reverse_commissions_in_txn

    reverse_commissions_in_txn(order)
    return True


def expire_orders(now=None, limit: int = 500) -> int:
    """Unpaid orders past their time become expired; their codes go back on sale."""
    now = now or utcnow()
    stale = db.session.scalars(
        select(Order).where(Order.status == "pending", Order.expires_at < now)
        .limit(limit).execution_options(all_tenants=True)).all()
    count = 0
    for order in stale:
        if transition_in_txn(order, ("pending",), "expired"):
            for line in order.lines:
                allocation.release_codes_in_txn(line.id)
            coupons.release_in_txn(order)  # an unpaid order gives its coupon's use back
            count += 1
    db.session.commit()
    return count


def stuck_orders(older_than_seconds: int, limit: int = 500) -> list[tuple[int, int]]:
    """(tenant_id, order_id) of orders paid but not delivered for too long."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    rows = db.session.execute(
        select(Order.tenant_id, Order.id)
        .where(Order.status.in_(("paid", "fulfilling")), Order.paid_at < cutoff)
        .order_by(Order.paid_at).limit(limit).execution_options(all_tenants=True))
    return [(r.tenant_id, r.id) for r in rows]
