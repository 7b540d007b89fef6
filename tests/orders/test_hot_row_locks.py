"""Concurrent orders leave a hot row's versions with a plain xmax, not a MultiXact.

Every order inserts a line naming its product and ledger entries naming the sales
clearing account, and moves that product's stock counter and that account's
balance just before COMMIT (``kameng.core.hotrows``). Were the foreign keys checked
at each INSERT, each check would take a KEY SHARE lock on the row, and the update
of one order while another order's check holds its share would turn the row's
version into a MultiXact (a sharer + an updater) that every later read of the row
has to look up: 14% of PostgreSQL's CPU under the order bench. Checked at COMMIT
(migration ``2b7e91c4d5a6``), after the transaction's own update, they leave the
updated version's xmax the updating transaction's own id.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

from kameng.billing.ledger import services as ledger
from kameng.core.extensions import db
from kameng.sales.models import OrderLine
from tests.orders.helpers import wallet_order


def _copy_line(conn, line_id: int, tag: str) -> None:
    columns = [c.name for c in OrderLine.__table__.c if c.name != "id"]
    chosen = ", ".join("supplier_key || :tag" if c == "supplier_key" else c for c in columns)
    conn.execute(text(f"INSERT INTO order_lines ({', '.join(columns)}) "
                      f"SELECT {chosen} FROM order_lines WHERE id = :id"),
                 {"id": line_id, "tag": tag})


def _entry_on(conn, account_id: int, transaction_id: int, _tag: str) -> None:
    conn.execute(text("INSERT INTO ledger_entries (transaction_id, account_id, amount) "
                      "VALUES (:tx, :account, 1)"),
                 {"tx": transaction_id, "account": account_id})


@pytest.mark.parametrize("hot", ["product", "clearing account"])
def test_an_update_while_another_order_references_the_row_makes_no_multixact(app, tree, hot):
    order = wallet_order(tree.rocket, tree.rocket_customer)
    line = order.lines[0]
    if hot == "product":
        table, row_id = "products", line.product_id
        column = "stock_available"

        def reference(conn, tag):
            _copy_line(conn, line.id, tag)
    else:
        clearing = ledger.platform_account("sales_clearing", order.currency)
        table, row_id, column = "ledger_accounts", clearing.id, "balance"
        tx_id = db.session.scalar(text(
            "SELECT transaction_id FROM ledger_entries WHERE account_id = :a LIMIT 1"),
            {"a": row_id})

        def reference(conn, tag):
            _entry_on(conn, row_id, tx_id, tag)
    db.session.commit()

    first, second, reader = (db.engine.connect() for _ in range(3))
    try:
        first_xid = first.execute(text("SELECT txid_current() % 4294967296")).scalar()
        reference(first, "-a")
        reference(second, "-b")   # another order, still open, names the same row
        first.execute(text(f"UPDATE {table} SET {column} = {column} + 0 WHERE id = :id"),
                      {"id": row_id})
        xmax = reader.execute(text(f"SELECT xmax::text::bigint FROM {table} WHERE id = :id"),
                              {"id": row_id}).scalar()
        members = reader.execute(text(
            "SELECT count(*) FROM pg_get_multixact_members(:x::text::xid)"),
            {"x": xmax}).scalar() if xmax != first_xid else 0
    finally:
        for conn in (first, second, reader):
            conn.rollback()
            conn.close()
    assert (xmax, members) == (first_xid, 0), \
        f"the {hot}'s row version carries a MultiXact of {members} lockers"
