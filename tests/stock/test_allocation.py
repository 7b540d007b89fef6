"""Reserving codes for order lines: never one code to two lines, counters kept."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from kameng.core.errors import Conflict
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.shop.catalog.services import create_product
from kameng.shop.stock import services
from kameng.shop.stock.models import CardCode, LoopDelivery
from tests.stock.conftest import assert_counter, codes

pytestmark = pytest.mark.both


def later(minutes=15):
    return utcnow() + timedelta(minutes=minutes)


def test_reserve_sell_and_read_codes(app, card):
    services.import_codes(card, text="R-1\nR-2\nR-3\n")
    ids = services.reserve_codes(card.id, 2, order_line_id=11, until=later())
    assert len(set(ids)) == 2
    assert assert_counter(card) == 1
    assert services.codes_for_line(11) == []            # not sold yet
    held = services.codes_for_line(11, include_reserved=True)
    assert len(set(held)) == 2 and set(held) <= {"R-1", "R-2", "R-3"}
    assert services.mark_sold(11) == 2
    assert services.mark_sold(11) == 0                  # a re-run changes nothing
    assert services.codes_for_line(11) == held
    assert services.release_codes(11) == 0              # sold codes stay sold
    assert assert_counter(card) == 1
    # asking again for the same line hands back the same codes
    assert services.reserve_codes(card.id, 2, order_line_id=11, until=later()) == ids


def test_out_of_stock_reserves_nothing(app, card):
    services.import_codes(card, text="S-1\nS-2\n")
    with pytest.raises(Conflict) as err:
        services.reserve_codes(card.id, 3, order_line_id=1, until=later())
    assert err.value.code == "out_of_stock"
    assert db.session.scalar(select(func.count()).select_from(CardCode)
                             .where(CardCode.status == "reserved")) == 0
    assert assert_counter(card) == 2


def test_release_puts_a_lines_reserved_codes_back(app, card):
    services.import_codes(card, text=codes(6))
    services.reserve_codes(card.id, 2, order_line_id=1, until=later())
    services.reserve_codes(card.id, 2, order_line_id=2, until=utcnow() - timedelta(seconds=1))
    assert assert_counter(card) == 2
    assert services.release_codes(1) == 2
    assert services.release_codes(1) == 0   # a second release finds nothing
    assert assert_counter(card) == 4
    assert services.codes_for_line(1, include_reserved=True) == []
    # the other line's reservation is its own, whatever its time says
    assert len(services.codes_for_line(2, include_reserved=True)) == 2


def test_commit_false_joins_the_callers_transaction(app, card):
    services.import_codes(card, text="T-1\nT-2\n")
    ids = services.reserve_codes_in_txn(card.id, 1, order_line_id=1, until=later())
    with pytest.raises(Conflict):   # refused inside a savepoint: the caller's work survives
        services.reserve_codes_in_txn(card.id, 5, order_line_id=2, until=later())
    db.session.rollback()           # the caller gives up: its reservation goes too
    assert assert_counter(card) == 2
    assert db.session.get(CardCode, ids[0]).status == "available"


def test_loop_code_goes_to_every_buyer(app, loop_card):
    services.import_codes(loop_card, text="https://example.test/activate/SHARED\n")
    for line in range(1, 6):
        services.reserve_codes(loop_card.id, 2, order_line_id=line, until=later())
    assert services.available_quantity(loop_card) is None      # unlimited
    assert services.mark_sold(1) == 2
    assert services.codes_for_line(1) == ["https://example.test/activate/SHARED"] * 2
    assert services.release_codes(2) == 2
    assert db.session.scalar(select(func.count()).select_from(LoopDelivery)) == 4
    assert services.stock_report()[0]["sold_14d"] == 2
    assert assert_counter(loop_card) == 1
    # voiding the loop code ends the supply
    code_id = db.session.scalar(select(CardCode.id).where(CardCode.product_id == loop_card.id))
    services.void_code(code_id)
    with pytest.raises(Conflict):
        services.reserve_codes(loop_card.id, 1, order_line_id=99, until=later())
    assert services.codes_for_line(1) == ["https://example.test/activate/SHARED"] * 2


def _race(app, product_id, buyers, quantity):
    barrier = threading.Barrier(buyers)
    won, lost, errors = {}, [], []

    def buy(line):
        with app.app_context():
            try:
                barrier.wait()
                won[line] = services.reserve_codes(product_id, quantity, order_line_id=line,
                                                   until=later())
            except Conflict as err:
                assert err.code == "out_of_stock"
                lost.append(line)
            except Exception as err:  # pragma: no cover - shown by the assert below
                errors.append(repr(err))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=buy, args=(line,)) for line in range(1, buyers + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    return won, lost


@pytest.mark.parametrize("quantity", [1, 3])
def test_32_buyers_racing_for_10_codes_never_share_one(app, card, quantity):
    services.import_codes(card, text=codes(10))
    product_id = card.id
    db.session.commit()  # reading card.id began a transaction: SQLite would hold its lock
    won, lost = _race(app, product_id, 32, quantity)
    assert len(won) + len(lost) == 32
    assert len(won) == 10 // quantity
    handed = [cid for ids in won.values() for cid in ids]
    assert len(handed) == len(set(handed)) == len(won) * quantity
    db.session.expire_all()
    rows = db.session.execute(select(CardCode.id, CardCode.order_line_id)
                              .where(CardCode.status == "reserved")).all()
    assert {cid: line for cid, line in rows} == {cid: line for line, ids in won.items()
                                                  for cid in ids}
    assert assert_counter(card) == 10 - len(handed)


def test_an_orders_pick_reads_available_codes_off_an_index_even_in_a_generic_plan(
        app, card, backend):
    """The order path's pick of codes (``allocation.claim_update``) runs as a prepared
    statement, and after five runs PostgreSQL may keep one generic plan for it: that plan
    must still read the product's available codes off their partial index, not every
    code the product ever had, sold ones too (with the status a parameter it fetched them
    all and sorted them, or walked every code's id: a generic plan cannot use the partial
    index for ``status = $n``)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's plans")
    import json
    import re

    from psycopg.sql import Literal
    from sqlalchemy import BigInteger, bindparam

    from kameng.shop.stock import allocation

    # a product that has sold most of its codes, beside another one, as PostgreSQL knows it
    services.import_codes(card, text=codes(400))
    services.import_codes(create_product(sku="CARD-2", name="点卡 50", kind="card",
                                         supplier_cost=400, wholesale_price=500,
                                         retail_price=600), text=codes(400))
    db.session.execute(text("UPDATE card_codes SET status = 'sold', sold_at = now() "
                            "WHERE product_id = :p AND id % 10 <> 0"), {"p": card.id})
    db.session.commit()
    db.session.execute(text("ANALYZE card_codes"))
    compiled = allocation.claim_update(bindparam("line", type_=BigInteger)).compile(
        dialect=db.engine.dialect)
    values = compiled.construct_params({"pick_product": card.id, "pick_quantity": 1,
                                        "claim_until": later(), "line": 1})
    order: list[str] = []

    def number(match):
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    sql = re.sub(r"%\((\w+)\)s", number, compiled.string)
    connection = db.session.connection()
    connection.exec_driver_sql(f"PREPARE pick_plan AS {sql}")
    connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    driver = connection.connection.driver_connection
    arguments = ", ".join(Literal(values[name]).as_string(driver) for name in order)
    plan = connection.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) EXECUTE pick_plan({arguments})").scalar()
    db.session.rollback()
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def nodes(node):
        yield node
        for child in node.get("Plans", ()):
            yield from nodes(child)

    pick = next(n for n in nodes(plan[0]["Plan"]) if n.get("Subplan Name") == "CTE pick")
    scans = [(n["Node Type"], n.get("Index Name")) for n in nodes(pick)
             if n.get("Relation Name") == "card_codes"]
    assert scans == [("Index Scan", "ix_card_codes_available")], json.dumps(pick, indent=1)
