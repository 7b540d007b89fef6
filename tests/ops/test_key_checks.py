"""The key ring's checks stay cheap however many codes are stored: ``kameng doctor`` and
``kameng keys status`` learn which key ids rows use from the key-id indexes (a few
probes), never by reading every code; only the keys they name are counted, and at most
``doctor.SHOWN_ROWS`` rows each. ``keys retire`` still refuses a key any row uses."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import event, insert, text

from kameng.core.extensions import db
from kameng.ops import doctor, rotation
from kameng.sales.models import Order, OrderLine
from kameng.shop.stock.models import CardCode
from tests.test_query_plans import _seq_scans

CODES = 20_000     # under the ring's key, k1
LINES = 2_000      # order lines, DELIVERED of them with delivered codes
DELIVERED = 1_500
STRAYS = 5         # codes under k9, a key the ring lacks


def _seed(tree):
    from kameng.shop.catalog import services as catalog

    product = catalog.create_product(sku="KEYS-1", name="Keys", kind="card",
                                     supplier_cost=100, wholesale_price=150,
                                     retail_price=200)
    codes = [{"product_id": product.id, "batch_id": 1, "secret_ciphertext": b"x" * 40,
              "key_id": "k9" if n < STRAYS else "k1", "fingerprint": n.to_bytes(32, "big"),
              "status": "available"} for n in range(CODES + STRAYS)]
    db.session.execute(insert(CardCode), codes)
    order = Order(tenant_id=tree.star.id, order_no="KKEYS1", status="delivered",
                  currency="CNY", amount=100)
    db.session.add(order)
    db.session.flush()
    lines = [{"order_id": order.id, "tenant_id": tree.star.id, "product_id": product.id,
              "sku": "KEYS-1", "name": "Keys", "kind": "topup", "quantity": 1,
              "unit_price": 100, "amount": 100, "status": "delivered",
              "delivery_key_id": "k1" if n < DELIVERED else None,
              "delivery_ciphertext": b"y" * 40 if n < DELIVERED else None}
             for n in range(LINES)]
    db.session.execute(insert(OrderLine), lines)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


class Captured:
    def __init__(self):
        self.statements: list[tuple[str, object]] = []

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if not executemany and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.statements.append((statement, parameters))

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._before)


def _full_reads(backend, statements) -> list[str]:
    """The captured statements that read card_codes or order_lines whole (a Seq Scan,
    or an index walked end to end) by the database's own plan."""
    found = []
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for sql, params in statements:
            if backend == "postgresql":
                cur.execute("EXPLAIN (FORMAT JSON) " + sql, params or None)
                plan = cur.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                scans = [s for s in _seq_scans(plan[0]["Plan"])
                         if s.split()[0] in ("card_codes", "order_lines")]
            else:
                cur.execute("EXPLAIN QUERY PLAN " + sql, params or ())
                # as on PostgreSQL, an index walked in order under a LIMIT stops early
                stops = (re.search(r"ORDER BY [\w.]+\s+LIMIT", sql)
                         and not re.search(r"GROUP BY|count\(", sql, re.I))
                scans = [row[3] for row in cur.fetchall()
                         if re.match(r"SCAN (card_codes|order_lines)\b", row[3])
                         and not (stops and " INDEX " in row[3])]
            if scans:
                found.append(f"{scans}: {' '.join(sql.split())[:200]}")
        raw.rollback()
    finally:
        raw.close()
    return found


@pytest.mark.both
def test_the_doctor_finds_a_missing_key_by_index_probes(app, tree, backend):
    _seed(tree)
    with Captured() as captured:
        (finding,) = doctor.check_keys()
        used = rotation.count_using("k9")   # what `keys retire k9` asks
        # what a rotation to k1 counts after each pass (the rows not yet under k1)
        pending = rotation.count_pending("k1")
    assert not finding.ok and f"k9 ({STRAYS} rows)" in finding.detail, finding.detail
    assert used["card_codes"] == STRAYS
    assert pending["card_codes"] == STRAYS and pending["order_lines"] == 0
    assert rotation.keys_in_use() == {"k1", "k9"}
    assert len(captured.statements) >= 4
    problems = _full_reads(backend, captured.statements)
    assert not problems, "the key checks read a big table whole:\n" + "\n".join(problems)


@pytest.mark.both
def test_the_doctor_counts_at_most_shown_rows(app, tree, monkeypatch):
    _seed(tree)
    monkeypatch.setattr(doctor, "SHOWN_ROWS", STRAYS - 2)
    (finding,) = doctor.check_keys()
    assert not finding.ok and f"k9 (over {STRAYS - 2} rows)" in finding.detail


@pytest.mark.both
def test_keys_status_lists_the_keys_in_use_and_count_says_it_reads_every_row(app, tree,
                                                                            cli):
    _seed(tree)
    status = cli("keys", "status")
    assert status.exit_code == 0, status.output
    assert "keys rows use: k1, k9" in status.output and "rows under" not in status.output
    counted = cli("keys", "status", "--count")
    assert f"rows under k1: {CODES + DELIVERED}" in counted.output
    assert f"rows under k9: {STRAYS}" in counted.output
    assert re.search(r"counted every stored code and secret in \d+\.\d\d s", counted.output)


@pytest.mark.both
def test_retire_still_refuses_a_key_one_delivered_code_uses(app, tree, cli):
    from kameng.core.crypto import keyring

    assert cli("keys", "rotate", "--no-reencrypt", "--settle", "0").exit_code == 0
    order = Order(tenant_id=tree.star.id, order_no="KKEYS2", status="delivered",
                  currency="CNY", amount=100)
    db.session.add(order)
    db.session.flush()
    from kameng.shop.catalog import services as catalog

    product = catalog.create_product(sku="KEYS-2", name="Keys", kind="manual",
                                     supplier_cost=100, wholesale_price=150,
                                     retail_price=200)
    db.session.execute(insert(OrderLine), [{
        "order_id": order.id, "tenant_id": tree.star.id, "product_id": product.id,
        "sku": "KEYS-2", "name": "Keys", "kind": "manual", "quantity": 1, "unit_price": 100,
        "amount": 100, "status": "delivered", "delivery_key_id": "k1",
        "delivery_ciphertext": b"y" * 40}])
    db.session.commit()
    refused = cli("keys", "retire", "k1")
    assert refused.exit_code != 0 and "1 row(s) still use key k1" in refused.stderr
    assert keyring().key_ids == ["k2", "k1"]
    (finding,) = doctor.check_keys()
    assert finding.ok and "rows still under k1 (1)" in finding.detail
