"""Rolling an order's money up the tenant chain, the hold, refunds, promoter links.

On delivery, ``commission_on_delivery(snapshot)`` posts ONE balanced transaction
(``order:<order_no>:commission``) that empties the order's money out of the
platform's ``sales_clearing``. The order arrives as an ``OrderSnapshot`` (a plain
value built by ``kameng.sales.commissions``, which also locks the order row):

- every shop in the line's ``chain`` (master first) earns
  ``(unit price - unit cost) × quantity`` into its ``earnings_pending``;
  the master's unit cost is the supplier cost, which goes to ``supplier_payable``;
- a promoter (推广) of the selling shop gets ``promoter_bp`` of that shop's OWN
  margin, taken out of that margin (rounded down: the shop keeps the fraction);
- the payment provider's fee (master setting, per provider: basis points +
  fixed) comes out of the selling shop's or the master's margin, into the
  platform ``fees`` account;
- whatever the chain does not explain (an inconsistent snapshot) goes to the
  platform ``rounding`` account, so the books always balance and nothing is lost.

If a shop's margin minus the fee it bears is negative, the negative part is
booked on its ``earnings_available`` (which may go negative; the statement
shows why) — ``earnings_pending`` never goes below zero.

After the hold (``hold_days``), ``mature_commissions`` moves each order's
pending amounts to ``earnings_available`` (``order:<no>:commission:mature``,
once per order). ``reverse_commissions_in_txn`` undoes an order's commission inside
the refund's transaction: inside the hold by reversing the posting exactly,
after it by taking the same amounts back from ``earnings_available``.
"""
from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from kameng.billing.commissions import settings as billing_settings
from kameng.billing.commissions.models import (
    Commission,
    CommissionShare,
    PromoterCode,
    Referral,
)
from kameng.billing.commissions.snapshot import OrderSnapshot
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Account, Transaction
from kameng.core.errors import InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.percent import percent_of_floor
from kameng.core.scoping import all_tenants
from kameng.tenants.models import Tenant, User

CODE_RE = re.compile(r"^[a-z0-9]{6,16}$")
CODE_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
# ledger transaction kinds that change what a shop has earned
EARNING_KINDS = ("commission", "commission_reversal", "commission_clawback")


# ----- the split -------------------------------------------------------------------

@dataclass
class ShopShare:
    tenant_id: int
    depth: int
    sales: int = 0
    cost: int = 0
    promoter: int = 0
    fee: int = 0
    held: int = 0      # what the shop already holds of the order (its own gateway took it)

    @property
    def margin(self) -> int:
        return self.sales - self.cost

    @property
    def net(self) -> int:
        return self.margin - self.promoter - self.fee - self.held


@dataclass
class Split:
    amount: int
    supplier: int = 0
    shops: dict[int, ShopShare] = field(default_factory=dict)
    promoter_user_id: int | None = None
    promoter_amount: int = 0
    fee: int = 0
    fee_tenant_id: int | None = None
    held: int = 0      # of ``amount``, never in sales_clearing (the seller collected it)

    @property
    def rounding(self) -> int:
        explained = self.supplier + sum(s.margin for s in self.shops.values())
        return self.amount - explained


def commission_key(order_no: str) -> str:
    return f"order:{order_no}:commission"


def split_order(order: OrderSnapshot, *, promoter_user_id: int | None = None,
                promoter_bp: int = 0, fee: int = 0,
                fee_tenant_id: int | None = None) -> Split:
    """Who gets what of a delivered order (pure arithmetic on the price snapshot)."""
    split = Split(amount=order.amount)
    for line in order.lines:
        if line.status != "delivered":
            continue
        chain, qty = line.chain, line.quantity
        if not chain or chain[-1].tenant_id != order.tenant_id:
            raise InvalidInput(_l("order %(order_no)s line %(line_id)s has no price chain "
                                  "ending at the selling shop",
                                  order_no=order.order_no, line_id=line.id))
        for depth, level in enumerate(chain):
            if depth == 0:
                split.supplier += level.cost * qty
            share = split.shops.setdefault(level.tenant_id, ShopShare(level.tenant_id, depth))
            share.sales += level.price * qty
            share.cost += level.cost * qty
        # a coupon of the selling shop: its own sales are that much less, nobody else's
        split.shops[chain[-1].tenant_id].sales -= line.discount
    seller = split.shops.get(order.tenant_id)
    if seller is not None and promoter_user_id and promoter_bp and seller.margin > 0:
        # a percent of the selling shop's OWN margin, never of anything above it
        seller.promoter = percent_of_floor(seller.margin, promoter_bp)
        split.promoter_user_id = promoter_user_id if seller.promoter else None
        split.promoter_amount = seller.promoter
    if fee and fee_tenant_id in split.shops:
        split.shops[fee_tenant_id].fee += fee
        split.fee, split.fee_tenant_id = fee, fee_tenant_id
    if order.seller_held:
        seller = split.shops.setdefault(order.tenant_id, ShopShare(order.tenant_id, 0))
        seller.held = order.seller_held
        split.held = order.seller_held
    return split


def seller_keeps(order: OrderSnapshot) -> int:
    """What the selling shop keeps of an order it collects on its own gateway: its own
    margin less its promoter's share (no payment fee: the platform took no payment).
    The rest (``amount - seller_keeps``) is what the platform owes above the shop."""
    lines = tuple(line._replace(status="delivered") for line in order.lines)
    whole = replace(order, lines=lines, seller_held=None)
    with all_tenants():
        promoter_id, promoter_bp = _promoter_for(whole)
        split = split_order(whole, promoter_user_id=promoter_id, promoter_bp=promoter_bp)
    seller = split.shops.get(order.tenant_id)
    return seller.margin - seller.promoter if seller is not None else 0


_REFERRALS = "kameng.commissions.referrals"


def expect_deliveries(customers: Iterable[tuple[int, int | None]]) -> None:
    """The (shop id, customer id) of the orders about to be delivered in the current
    transaction: their referrals are read now in one query, not one per order (a
    delivery batch); the memory ends with the transaction."""
    pairs = {(int(t), int(c)) for t, c in customers if c is not None}
    if not pairs:
        return
    with all_tenants():
        rows = db.session.scalars(select(Referral).where(
            Referral.user_id.in_(sorted({c for _t, c in pairs})))).all()
    found = {(ref.tenant_id, ref.user_id): ref for ref in rows}
    db.session.info[_REFERRALS] = (db.session().get_transaction(),
                                   {pair: found.get(pair) for pair in pairs})


def _referral(tenant_id: int, customer_id: int) -> Referral | None:
    memo = db.session.info.get(_REFERRALS)
    if memo is not None and memo[0] is db.session().get_transaction() \
            and (tenant_id, customer_id) in memo[1]:
        return memo[1][tenant_id, customer_id]
    return db.session.scalar(select(Referral).where(Referral.user_id == customer_id,
                                                    Referral.tenant_id == tenant_id))


def _promoter_for(order: OrderSnapshot) -> tuple[int | None, int]:
    if order.customer_id is None:
        return None, 0
    ref = _referral(order.tenant_id, order.customer_id)
    if ref is None or ref.promoter_id == order.customer_id:
        return None, 0
    promoter = db.session.get(User, ref.promoter_id)
    if promoter is None or not promoter.is_active or promoter.tenant_id != order.tenant_id:
        return None, 0
    return promoter.id, billing_settings.settings_for(order.tenant_id).promoter_bp


def commission_on_delivery(order: OrderSnapshot) -> Commission:
    """Write the commission of an order just delivered, in the caller's transaction.

    Delivery calls this in the transaction that marks the order delivered, so a
    delivered order always has its commission (and a refund, which locks the
    same order row, always finds it). Nothing is committed here.
    """
    with all_tenants():
        return _write(order, _split_for(order))


def commissions_on_delivery(orders: Sequence[OrderSnapshot]) -> None:
    """``commission_on_delivery`` for the orders one delivery batch delivers, in the
    caller's transaction: the same postings (one ledger transaction per order, keyed
    ``order:<no>:commission``), the same commission rows and shares, written together
    — on PostgreSQL the postings in one statement and the rows with their shares in
    another — and no ORM objects. Nothing is committed here."""
    if not orders:
        return
    with all_tenants():
        accounts: dict[tuple, Account] = {}
        planned = []
        for order in orders:
            split = _split_for(order)
            entries, shares = _entries_and_shares(order, split, accounts)
            planned.append((order, split, entries, shares))
        posted = [n for n, (_o, _s, entries, _sh) in enumerate(planned)
                  if any(amount for _a, amount in entries)]
        tx_ids = dict(zip(posted, ledger.post_many_in_txn(
            ledger.Posting(commission_key(planned[n][0].order_no), "commission",
                           planned[n][2], reference=planned[n][0].order_no,
                           memo="commissions up the chain") for n in posted), strict=True))
        rows = [(_commission_values(order, split, tx_ids.get(n)), shares)
                for n, (order, split, _entries, shares) in enumerate(planned)]
        _insert_commissions(rows)


def _split_for(order: OrderSnapshot) -> Split:
    rule = billing_settings.fee_rule(order.payment_method)
    fee = billing_settings.fee_for(order.payment_method, order.amount)
    if order.seller_held is not None:
        fee = 0  # the shop's own gateway took the money: no platform payment fee
    fee_tid = None
    if fee:
        fee_tid = (billing_settings.master_tenant().id if rule.get("payer") == "master"
                   else order.tenant_id)
    promoter_id, promoter_bp = _promoter_for(order)
    return split_order(order, promoter_user_id=promoter_id, promoter_bp=promoter_bp,
                       fee=fee, fee_tenant_id=fee_tid)


def _entries_and_shares(order: OrderSnapshot, split: Split, accounts: dict | None = None
                        ) -> tuple[list[tuple[Account, int]], list[dict]]:
    """The commission's ledger entries and its shares' columns (``accounts``: a memo of
    the accounts already found, for a batch of orders)."""
    accounts = {} if accounts is None else accounts

    def account(owner, kind: str) -> Account:
        found = accounts.get((owner, kind, cur))
        if found is None:
            if owner is None:
                found = ledger.platform_account(kind, cur)
            elif isinstance(owner, int):
                found = ledger.shop_account_of(owner, kind, cur)
            else:
                found = ledger.user_account(db.session.get(User, owner[1]), kind, cur)
            accounts[owner, kind, cur] = found
        return found

    cur = order.currency
    entries: list[tuple[Account, int]] = [
        (account(None, "sales_clearing"), -(split.amount - split.held)),
        (account(None, "supplier_payable"), split.supplier),
        (account(None, "fees"), split.fee),
        (account(None, "rounding"), split.rounding),
    ]
    shares = []
    for tid, share in split.shops.items():
        net = share.net
        kind = "earnings_pending" if net >= 0 else "earnings_available"
        entries.append((account(tid, kind), net))
        shares.append(dict(tenant_id=tid, user_id=None, depth=share.depth, sales=share.sales,
                           cost=share.cost, margin=share.margin, promoter=share.promoter,
                           fee=share.fee, net=net))
    if split.promoter_user_id:
        entries.append((account(("user", split.promoter_user_id), "earnings_pending"),
                        split.promoter_amount))
        shares.append(dict(tenant_id=order.tenant_id, user_id=split.promoter_user_id,
                           depth=split.shops[order.tenant_id].depth, sales=0, cost=0,
                           margin=split.promoter_amount, promoter=0, fee=0,
                           net=split.promoter_amount))
    return entries, shares


def _commission_values(order: OrderSnapshot, split: Split, tx_id: int | None) -> dict:
    delivered = order.delivered_at or utcnow()
    return dict(
        tenant_id=order.tenant_id, order_id=order.order_id, order_no=order.order_no,
        currency=order.currency, amount=split.amount, supplier_cost=split.supplier,
        fee=split.fee, fee_tenant_id=split.fee_tenant_id, rounding=split.rounding,
        promoter_user_id=split.promoter_user_id, status="pending", transaction_id=tx_id,
        day=delivered.date(), matures_at=delivered + timedelta(days=billing_settings.hold_days()))


def _write(order: OrderSnapshot, split: Split) -> Commission:
    entries, shares = _entries_and_shares(order, split)
    tx_id = None
    if any(amount for _a, amount in entries):
        tx_id = ledger.post_in_txn(commission_key(order.order_no), "commission", entries,
                                   reference=order.order_no, memo="commissions up the chain").id
    commission = Commission(**_commission_values(order, split, tx_id))
    commission.shares = [CommissionShare(**share) for share in shares]
    # written at the next flush
    db.session.add(commission)
    return commission


_COMMISSION_COLUMNS = ("tenant_id", "order_id", "order_no", "currency", "amount",
                       "supplier_cost", "fee", "fee_tenant_id", "rounding", "promoter_user_id",
                       "status", "transaction_id", "day", "matures_at")
_SHARE_COLUMNS = ("tenant_id", "user_id", "depth", "sales", "cost", "margin", "promoter", "fee",
                  "net")


def _insert_commissions(rows: list[tuple[dict, list[dict]]]) -> None:
    """Insert commission rows and their shares (``[(columns, [share columns, …]), …]``):
    on PostgreSQL in one statement, elsewhere a row and its shares at a time."""
    now = utcnow()
    commissions, shares = Commission.__table__, CommissionShare.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        params = {f"c_{name}": [values[name] for values, _shares in rows]
                  for name in _COMMISSION_COLUMNS}
        share_rows = [(values["order_id"], share) for values, order_shares in rows
                      for share in order_shares]
        params["s_order_id"] = [order_id for order_id, _share in share_rows]
        params.update({f"s_{name}": [share[name] for _order_id, share in share_rows]
                       for name in _SHARE_COLUMNS})
        db.session.execute(_commissions_statement(), {**params, "created_at": now})
        return
    for values, order_shares in rows:
        commission_id = db.session.execute(
            insert(commissions).values(**values, created_at=now, reversed_after_hold=False)
            .returning(commissions.c.id)).scalar_one()
        if order_shares:
            db.session.execute(insert(shares), [dict(share, commission_id=commission_id)
                                                for share in order_shares])


@functools.cache
def _commissions_statement():
    """PostgreSQL: commission rows (``c_<column>`` arrays) and their shares (``s_order_id``
    and ``s_<column>`` arrays, joined to their row by order id) in one statement."""
    from sqlalchemy import BigInteger, Date, String, false
    from sqlalchemy.dialects.postgresql import ARRAY

    commissions, shares = Commission.__table__, CommissionShare.__table__

    def array_type(column):
        if isinstance(column.type, String):
            return ARRAY(String)
        if isinstance(column.type, Date):
            return ARRAY(Date)
        if column.name == "matures_at":
            return ARRAY(column.type)
        return ARRAY(BigInteger)

    given = func.unnest(*[bindparam(f"c_{name}", type_=array_type(commissions.c[name]))
                          for name in _COMMISSION_COLUMNS]
                        ).table_valued(*_COMMISSION_COLUMNS).render_derived(name="given")
    made = (insert(commissions)
            .from_select([*_COMMISSION_COLUMNS, "created_at", "reversed_after_hold"],
                         select(*[given.c[name] for name in _COMMISSION_COLUMNS],
                                bindparam("created_at", type_=commissions.c.created_at.type),
                                false()))
            .returning(commissions.c.id, commissions.c.order_id).cte("made"))
    each = func.unnest(bindparam("s_order_id", type_=ARRAY(BigInteger)),
                       *[bindparam(f"s_{name}", type_=array_type(shares.c[name]))
                         for name in _SHARE_COLUMNS]
                       ).table_valued("order_id", *_SHARE_COLUMNS, with_ordinality="n"
                                      ).render_derived(name="each")
    written = (insert(shares)
               .from_select(["commission_id", *_SHARE_COLUMNS],
                            select(made.c.id, *[each.c[name] for name in _SHARE_COLUMNS])
                            .select_from(made).join(each, each.c.order_id == made.c.order_id)
                            .order_by(each.c.n))
               .returning(shares.c.id).cte("written"))
    return select(func.count()).select_from(made).add_cte(made, written)


# ----- the hold ----------------------------------------------------------------------

def _available_twin(account: Account) -> Account:
    """The ``earnings_available`` account of the same owner as a pending account."""
    if account.owner_type == "tenant":
        tenant = db.session.get(Tenant, account.tenant_id)
        return ledger.shop_account(tenant, "earnings_available", account.currency)
    user = db.session.get(User, account.user_id)
    return ledger.user_account(user, "earnings_available", account.currency)


def mature_commissions(now=None, limit: int = 500) -> int:
    """Move the pending earnings of every order past its hold to available (once per order)."""
    now = now or utcnow()
    with all_tenants():
        ids = list(db.session.scalars(
            select(Commission.id).where(Commission.status == "pending",
                                        Commission.matures_at <= now)
            .order_by(Commission.matures_at).limit(limit)))
        db.session.rollback()
        done = 0
        for cid in ids:
            done += _mature_one(cid, now)
    return done


def _mature_one(commission_id: int, now) -> int:
    moved = db.session.execute(
        update(Commission).where(Commission.id == commission_id,
                                 Commission.status == "pending")
        .values(status="available", matured_at=now)
        .execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        db.session.rollback()  # refunded or matured meanwhile
        return 0
    commission = db.session.get(Commission, commission_id, populate_existing=True)
    tx = db.session.get(Transaction, commission.transaction_id) \
        if commission.transaction_id else None
    lines = []
    for entry in ledger.transaction_entries(tx) if tx is not None else []:
        if entry.account.kind == "earnings_pending" and entry.amount > 0:
            lines.append((entry.account, -entry.amount))
            lines.append((_available_twin(entry.account), entry.amount))
    if lines:
        ledger.post_in_txn(f"{commission_key(commission.order_no)}:mature", "commission_release",
                           lines, reference=commission.order_no, memo="hold period over")
    db.session.commit()
    return 1


# ----- refunds -------------------------------------------------------------------------

def reverse_commissions_in_txn(order) -> bool:
    """Take back an order's commissions (inside the refund's transaction).

    Inside the hold the commission posting is reversed exactly; after it the
    same amounts come back out of ``earnings_available`` (which may go below
    zero; later earnings make it up). Returns False when there was nothing to
    reverse (no commission yet, or already reversed). ``order`` is an ``OrderSnapshot``.
    """
    with all_tenants():
        commission = db.session.scalar(select(Commission)
                                       .where(Commission.order_id == order.order_id))
        if commission is None:
            return False
        now = utcnow()
        tx = db.session.get(Transaction, commission.transaction_id) \
            if commission.transaction_id else None
        key = f"{commission_key(order.order_no)}:reverse"
        if _flip(commission, "pending", now, after_hold=False):
            if tx is not None:
                ledger.reverse_in_txn(tx, key, kind="commission_reversal",
                                      memo=f"refund of order {order.order_no}")
        elif _flip(commission, "available", now, after_hold=True):
            if tx is not None:
                lines = []
                for entry in ledger.transaction_entries(tx):
                    account = entry.account
                    if account.kind == "earnings_pending":
                        account = _available_twin(account)
                    lines.append((account, -entry.amount))
                ledger.post_in_txn(key, "commission_clawback", lines, reference=order.order_no,
                                   memo=f"refund of order {order.order_no} after the hold")
        else:
            return False
        return True


def _flip(commission: Commission, expected: str, now, after_hold: bool) -> bool:
    result = db.session.execute(
        update(Commission).where(Commission.id == commission.id,
                                 Commission.status == expected)
        .values(status="reversed", reversed_at=now, reversed_after_hold=after_hold)
        .execution_options(synchronize_session=False))
    if result.rowcount == 1:
        db.session.expire(commission)
        return True
    return False


def commission_for(order_id: int) -> Commission | None:
    with all_tenants():
        return db.session.scalar(select(Commission).where(Commission.order_id == order_id))


# ----- promoter links (推广) -------------------------------------------------------------

def promoter_code(user: User) -> PromoterCode:
    """The user's referral code on their shop (created on first use; commits)."""
    with all_tenants():
        found = db.session.scalar(select(PromoterCode).where(PromoterCode.user_id == user.id))
        if found is not None:
            return found
        for _attempt in range(5):
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
            row = PromoterCode(tenant_id=user.tenant_id, user_id=user.id, code=code)
            db.session.add(row)
            try:
                db.session.commit()
                return row
            except IntegrityError:
                db.session.rollback()
                found = db.session.scalar(select(PromoterCode)
                                          .where(PromoterCode.user_id == user.id))
                if found is not None:
                    return found
    raise RuntimeError("could not allocate a referral code")


def promoter_by_code(tenant: Tenant, code: str) -> User | None:
    code = (code or "").strip().lower()
    if not CODE_RE.match(code):
        return None
    with all_tenants():
        row = db.session.scalar(select(PromoterCode).where(PromoterCode.code == code,
                                                           PromoterCode.tenant_id == tenant.id))
        return db.session.get(User, row.user_id) if row is not None else None


def bind_referral(customer: User, code: str) -> bool:
    """Record that ``code``'s owner referred ``customer`` (once; never oneself).

    A code of another shop, an unknown code or an already referred customer
    changes nothing and returns False.
    """
    tenant = db.session.get(Tenant, customer.tenant_id)
    promoter = promoter_by_code(tenant, code)
    if promoter is None or promoter.id == customer.id or customer.role != "customer":
        return False
    with all_tenants():
        if db.session.scalar(select(Referral.id).where(Referral.user_id == customer.id)):
            return False
        db.session.add(Referral(tenant_id=customer.tenant_id, user_id=customer.id,
                                promoter_id=promoter.id))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return False
    return True


def referrer_of(customer: User) -> User | None:
    with all_tenants():
        ref = db.session.scalar(select(Referral).where(Referral.user_id == customer.id))
        return db.session.get(User, ref.promoter_id) if ref is not None else None


def referred_count(promoter: User) -> int:
    from sqlalchemy import func

    with all_tenants():
        return db.session.scalar(select(func.count(Referral.id))
                                 .where(Referral.promoter_id == promoter.id))


def promoter_balances(user: User) -> dict:
    out = {}
    for kind in ("earnings_pending", "earnings_available"):
        account = ledger.find_user_account(user, kind)
        out[kind] = account.balance if account is not None else 0
    return out


def order_commission_or_404(order_no: str) -> Commission:
    with all_tenants():
        found = db.session.scalar(select(Commission).where(Commission.order_no == order_no))
    if found is None:
        raise NotFound(_l("no commission for order %(order_no)r", order_no=order_no))
    return found
