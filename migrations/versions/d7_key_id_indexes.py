"""key ring checks: index the key id of card codes and of delivered codes

``kameng doctor`` asks which key ids the stored codes use, ``kameng keys retire``
whether any row still uses a key: with these indexes a few index probes, instead of
a scan of every code (kameng/ops/rotation.py ``keys_in_use``). Only delivered codes
are indexed on order lines (partial index). CREATE INDEX only, no rewrite; on
PostgreSQL built CONCURRENTLY (outside the migration's transaction), so sales and
imports go on while it builds. If that build is interrupted, PostgreSQL keeps an
INVALID index of the same name: ``DROP INDEX`` it and run ``kameng db upgrade`` again.

Revision ID: 673f39413c64
Revises: 3e8b6f2a4d17
Create Date: 2026-11-29 20:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '673f39413c64'
down_revision = '3e8b6f2a4d17'
branch_labels = None
depends_on = None

DELIVERED = sa.text('delivery_key_id IS NOT NULL')


def _create():
    concurrently = op.get_bind().dialect.name == 'postgresql'
    op.create_index('ix_card_codes_key_id', 'card_codes', ['key_id'], unique=False,
                    postgresql_concurrently=concurrently)
    op.create_index('ix_order_lines_delivery_key_id', 'order_lines', ['delivery_key_id'],
                    unique=False, postgresql_where=DELIVERED, sqlite_where=DELIVERED,
                    postgresql_concurrently=concurrently)


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            _create()
    else:
        _create()


def downgrade():
    op.drop_index('ix_order_lines_delivery_key_id', table_name='order_lines')
    op.drop_index('ix_card_codes_key_id', table_name='card_codes')
