"""Upgrades: a database populated at the FIRST migration upgrades to head with its data
intact; and no migration rewrites (or fully updates) a big table on PostgreSQL — the
statements every migration runs are recorded and scanned."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy import event

from kameng.core.extensions import db

FIRST = "02f2032b2059"
# the tables that grow with the business: a migration must never rewrite them
BIG_TABLES = ("orders", "order_lines", "card_codes", "ledger_entries", "ledger_transactions",
              "ledger_accounts", "audit_events", "outbox", "users", "loop_deliveries")
VOLATILE = re.compile(r"\b(now|random|clock_timestamp|statement_timestamp|"
                      r"gen_random_uuid|uuid_generate_v4|nextval|current_timestamp)\b", re.I)


def rewrites(sql: str) -> str | None:
    """Why this statement would rewrite (or lock and touch every row of) a big table on
    PostgreSQL, or None. The ALTERs PostgreSQL does in place are allowed: ADD COLUMN
    (nullable, or with a constant default), DROP COLUMN, ADD/DROP CONSTRAINT, indexes."""
    text = " ".join(sql.split())
    table = re.match(r'(?i)^(?:ALTER TABLE|UPDATE|DELETE FROM)\s+(?:ONLY\s+)?"?(\w+)"?', text)
    if not table or table.group(1).lower() not in BIG_TABLES:
        if re.match(r"(?i)^(VACUUM FULL|CLUSTER)\b", text):
            return "VACUUM FULL / CLUSTER rewrites the table"
        return None
    name = table.group(1)
    if re.match(r"(?i)^(UPDATE|DELETE)", text):
        return f"{text.split()[0]} of {name} touches its rows in the migration's transaction" \
            if " WHERE " not in text.upper() else None
    if re.search(r"(?i)\bALTER COLUMN\s+\S+\s+(SET DATA\s+)?TYPE\b", text):
        return f"ALTER COLUMN … TYPE rewrites {name}"
    for add in re.finditer(r"(?i)\bADD COLUMN\b(.*?)(?=, ADD |, ALTER |, DROP |$)", text):
        spec = add.group(1)
        default = re.search(r"(?i)\bDEFAULT\s+(.+)", spec)
        if default and VOLATILE.search(default.group(1)):
            return f"ADD COLUMN with a volatile default rewrites {name}"
        if re.search(r"(?i)\bNOT NULL\b", spec) and not default:
            return f"ADD COLUMN … NOT NULL without a default fails on a populated {name}"
        if re.search(r"(?i)\b(SERIAL|BIGSERIAL|GENERATED .* STORED)\b", spec):
            return f"ADD COLUMN of a serial or stored generated column rewrites {name}"
    if re.search(r"(?i)\bSET NOT NULL\b", text):
        return f"SET NOT NULL scans all of {name} under an exclusive lock"
    return None


@pytest.mark.parametrize("sql", [
    'ALTER TABLE orders ALTER COLUMN amount TYPE NUMERIC',
    'ALTER TABLE "card_codes" ALTER COLUMN key_id SET DATA TYPE VARCHAR(32)',
    "ALTER TABLE ledger_entries ADD COLUMN at TIMESTAMP DEFAULT now()",
    "ALTER TABLE orders ADD COLUMN ref UUID DEFAULT gen_random_uuid() NOT NULL",
    "ALTER TABLE orders ADD COLUMN flag BOOLEAN NOT NULL",
    "ALTER TABLE order_lines ALTER COLUMN note SET NOT NULL",
    "UPDATE card_codes SET key_id = 'k2'",
    "VACUUM FULL orders",
])
def test_the_scanner_catches_a_rewrite(sql):
    assert rewrites(sql)


@pytest.mark.parametrize("sql", [
    "ALTER TABLE orders ADD COLUMN discount BIGINT DEFAULT '0' NOT NULL",
    "ALTER TABLE orders ADD COLUMN coupon_code VARCHAR(32)",
    "ALTER TABLE card_codes DROP COLUMN void_ref",
    "CREATE INDEX ix_orders_x ON orders (x)",
    "UPDATE orders SET status = 'paid' WHERE id = 1",
    "ALTER TABLE tenants ALTER COLUMN name TYPE TEXT",  # not a big table
])
def test_the_scanner_allows_in_place_changes(sql):
    assert rewrites(sql) is None


def _app(url, tmp_path, redis_url):
    from kameng.webapp import create_app

    return create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
                       "DATABASE_URL": url, "REDIS_URL": redis_url, "SECRET_KEY": "x",
                       "BABEL_DEFAULT_LOCALE": "en"})


def test_no_migration_rewrites_a_big_table_on_postgresql(pg, tmp_path, redis_url):
    app = _app(pg.new_database("rewrites"), tmp_path, redis_url)
    seen: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *a: seen.append(statement))
        try:
            upgrade(directory=app.extensions["migrate"].directory)
        finally:
            db.session.remove()
            db.engine.dispose()
    assert any("alembic_version" in s for s in seen)
    found = [f"{why}: {' '.join(s.split())[:160]}" for s in seen if (why := rewrites(s))]
    assert not found, "migrations rewrite big tables:\n" + "\n".join(found)


@pytest.mark.both
def test_a_database_populated_at_the_first_migration_upgrades_with_its_data(
        request, backend, tmp_path, redis_url):
    from kameng.cli import cli as kameng_cli
    from kameng.core.crypto import keyring
    from kameng.shop.stock.allocation import code_aad

    url = (request.getfixturevalue("pg").new_database("upgrade") if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'old.db'}")
    app = _app(url, tmp_path, redis_url)
    directory = app.extensions["migrate"].directory
    now = datetime(2026, 11, 1, tzinfo=UTC)
    naive = now.replace(tzinfo=None)
    with app.app_context():
        upgrade(directory=directory, revision=FIRST)
        ring = keyring()
        codes = [f"OLD-CODE-{i}" for i in range(5)]
        with db.engine.begin() as conn:
            ins = lambda sql, **kw: conn.execute(sa.text(sql), kw)  # noqa: E731
            ts = now if backend == "postgresql" else naive
            ins("INSERT INTO tenants (id, parent_id, path, depth, slug, name, status, theme, "
                "settings, currency, locale, created_at) VALUES (1, NULL, '/1/', 0, 'master', "
                "'Master', 'active', 'default', '{}', 'CNY', 'zh_CN', :ts)", ts=ts)
            ins("INSERT INTO products (id, sku, kind, name, description, description_en, "
                "images, status, position, currency, supplier_cost, wholesale_price, "
                "retail_price, min_quantity, max_quantity, fields, loop_code, "
                "low_stock_threshold, stock_available, created_at) VALUES (1, 'OLD-1', "
                "'card', 'Old card', '', '', '[]', 'on_sale', 0, 'CNY', 800, 900, 1000, 1, 10, "
                "'[]', false, 0, 4, :ts)", ts=ts)
            ins("INSERT INTO stock_batches (id, product_id, actor, cost_note, source_name, "
                "status, total_lines, imported, duplicates, voided, created_at) VALUES "
                "(1, 1, 'cli', '', 'seed', 'done', 5, 5, 0, 0, :ts)", ts=ts)
            for i, code in enumerate(codes, start=1):
                kid, blob = ring.encrypt(code, code_aad(1))
                ins("INSERT INTO card_codes (id, product_id, batch_id, secret_ciphertext, "
                    "key_id, fingerprint, status, sold_at) VALUES (:id, 1, 1, :blob, :kid, "
                    ":fp, :status, :sold)", id=i, blob=blob, kid=kid,
                    fp=ring.fingerprint(code), status="sold" if i == 1 else "available",
                    sold=ts if i == 1 else None)
            ins("INSERT INTO orders (id, tenant_id, order_no, status, contact, currency, "
                "amount, payment_method, source, paid_at, delivered_at, created_at) VALUES "
                "(1, 1, 'KOLD1', 'delivered', '', 'CNY', 1000, 'balance', 'web', :ts, :ts, "
                ":ts)", ts=ts)
            ins("INSERT INTO order_lines (id, tenant_id, order_id, product_id, sku, name, kind, "
                "quantity, unit_price, amount, fields, chain, status, attempts) VALUES "
                "(1, 1, 1, 1, 'OLD-1', 'Old card', 'card', 1, 1000, 1000, '{}', '[]', "
                "'delivered', 1)")
            conn.execute(sa.text("UPDATE card_codes SET order_line_id = 1 WHERE id = 1"))
            for aid, kind, balance in ((1, "credits_issued", -1000), (2, "earnings_available",
                                                                      1000)):
                ins("INSERT INTO ledger_accounts (id, owner_type, owner_key, tenant_id, kind, "
                    "currency, balance, allow_negative, created_at) VALUES (:id, 'tenant', "
                    "'tenant:1', 1, :kind, 'CNY', :balance, true, :ts)",
                    id=aid, kind=kind, balance=balance, ts=ts)
            ins("INSERT INTO ledger_transactions (id, idempotency_key, kind, created_at) "
                "VALUES (1, 'seed-1', 'adjustment', :ts)", ts=ts)
            ins("INSERT INTO ledger_entries (id, transaction_id, account_id, amount) VALUES "
                "(1, 1, 1, -1000), (2, 1, 2, 1000)")
        if backend == "postgresql":  # the ids above were given: move the sequences past them
            with db.engine.begin() as conn:
                for table in ("tenants", "products", "stock_batches", "card_codes", "orders",
                              "order_lines", "ledger_accounts", "ledger_transactions",
                              "ledger_entries"):
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', "
                                         f"'id'), (SELECT max(id) FROM {table}))"))

        upgrade(directory=directory)

        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, key_id, secret_ciphertext, status FROM "
                                        "card_codes ORDER BY id")).all()
            order = conn.execute(sa.text("SELECT status, amount, discount FROM orders")).one()
            balances = {r.kind: r.balance for r in conn.execute(
                sa.text("SELECT kind, balance FROM ledger_accounts"))}
        assert [keyring().decrypt(r.key_id, r.secret_ciphertext, code_aad(1)) for r in rows] \
            == codes
        assert rows[0].status == "sold"
        assert tuple(order) == ("delivered", 1000, 0)  # the later column's default
        assert balances == {"credits_issued": -1000, "earnings_available": 1000}
        result = app.test_cli_runner().invoke(kameng_cli, ["ledger", "check"])
        assert result.exit_code == 0 and "ledger ok" in result.output, result.output
        db.session.remove()
        db.engine.dispose()
