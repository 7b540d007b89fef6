"""card_codes: drop ix_card_codes_reserved_until, the index of a sweep that is gone

The index (``reserved_until`` of the reserved codes) served ``release_expired``, which
the order sweep (``workers.jobs.sweep_orders``) ran every 15 seconds to put codes back
on sale once their reservation's time ran out. A paid order keeps its codes reserved,
with the time its unpaid reservation had, until a worker delivers it, so that sweep
sold a paid order's codes again when its delivery came late; it is gone, and
reservations end with their orders (``release_codes_in_txn`` through
``ix_card_codes_order_line_id``). The index was one more entry to write for every code
an order reserves.

On PostgreSQL ``DROP INDEX CONCURRENTLY`` (outside the migration's transaction), as in
``f4_drop_orders_tenant_id``; the downgrade builds it again, concurrently too.

Revision ID: 3b7e90c4d2a1
Revises: 8d2f6a41c9e7
Create Date: 2026-11-30 16:40:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '3b7e90c4d2a1'
down_revision = '8d2f6a41c9e7'
branch_labels = None
depends_on = None

NAME = 'ix_card_codes_reserved_until'
WHERE = sa.text("status = 'reserved'")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    if _postgresql():
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name='card_codes', postgresql_concurrently=True,
                          if_exists=True)
    else:
        op.drop_index(NAME, table_name='card_codes')


def downgrade():
    if _postgresql():
        with op.get_context().autocommit_block():
            op.create_index(NAME, 'card_codes', ['reserved_until'], unique=False,
                            postgresql_where=WHERE, postgresql_concurrently=True)
    else:
        op.create_index(NAME, 'card_codes', ['reserved_until'], unique=False,
                        sqlite_where=WHERE)
