"""hot rows' foreign keys checked at commit: no shared-lock + update MultiXacts

``order_lines.product_id`` → ``products`` and ``ledger_entries.account_id`` →
``ledger_accounts`` become ``DEFERRABLE INITIALLY DEFERRED``. Every order inserts a
line naming its product and entries naming the clearing account, and the same
transaction moves that product's stock counter and that account's balance just
before COMMIT (``kameng.core.hotrows``). Checked at once, each INSERT took a KEY
SHARE lock on the row, so the updates of concurrent orders turned the row's
versions into MultiXacts (shared lockers + an updater); every later read of the
row then had to look their members up (GetMultiXactIdMembers, 14% of the
database's CPU under order load). Checked at COMMIT, after the transaction's own
update, the check finds the row locked by its own transaction.

PostgreSQL: ``ALTER CONSTRAINT`` changes the catalog only (no scan, no rewrite).
SQLite cannot alter a constraint: the two tables are copied (Alembic's batch mode),
once, on the embedded default's small databases.

Revision ID: 2b7e91c4d5a6
Revises: 7c41d9e2a853
Create Date: 2026-11-29 23:40:00.000000

"""
from alembic import op

REFERRED = {"order_lines": ("products", "product_id"),
            "ledger_entries": ("ledger_accounts", "account_id")}

# revision identifiers, used by Alembic.
revision = '2b7e91c4d5a6'
down_revision = '7c41d9e2a853'
branch_labels = None
depends_on = None

CONSTRAINTS = (("order_lines", "fk_order_lines_product_id_products"),
               ("ledger_entries", "fk_ledger_entries_account_id_ledger_accounts"))


def upgrade():
    _set(deferred=True)


def downgrade():
    _set(deferred=False)


def _set(deferred: bool):
    for table, name in CONSTRAINTS:
        if op.get_bind().dialect.name == "postgresql":
            when = "DEFERRABLE INITIALLY DEFERRED" if deferred else "NOT DEFERRABLE"
            op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} {when}")
            continue
        referred, column = REFERRED[table]
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
            batch.create_foreign_key(name, referred, [column], ["id"],
                                     deferrable=True if deferred else None,
                                     initially="DEFERRED" if deferred else None)
