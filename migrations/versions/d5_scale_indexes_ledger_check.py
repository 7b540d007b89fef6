"""scale: the subtree's path index, the incremental ledger check's mark and sums

- ``ix_tenants_path_pattern``: ``tenants.path`` with ``varchar_pattern_ops`` on
  PostgreSQL, so ``path LIKE '/1/7/%'`` (a shop's subtree) is an index range scan
  whatever the database's collation (plain ``CREATE INDEX``: no table rewrite);
- ``ix_orders_collected_by`` (partial: only orders a shop collected on its own
  gateway): a parent's funding page sums them per shop below it without reading
  every order;
- ``ledger_check_marks`` / ``ledger_check_sums``: how far ``kameng ledger check`` has
  verified the ledger and each account's sum up to there (billing/ledger/check.py).
  Empty: the first check after the upgrade is a full one.

Revision ID: 7c3e9a1d5b20
Revises: 7d1e5a0c9b21
Create Date: 2026-11-29 17:20:00.000000

"""
from alembic import op
import sqlalchemy as sa
import kameng.core.models


# revision identifiers, used by Alembic.
revision = '7c3e9a1d5b20'
down_revision = '7d1e5a0c9b21'
branch_labels = None
depends_on = None

When = kameng.core.models.UTCDateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_index('ix_tenants_path_pattern', 'tenants', ['path'], unique=False,
                    postgresql_ops={'path': 'varchar_pattern_ops'})
    op.create_index('ix_orders_collected_by', 'orders', ['collected_by_tenant_id'],
                    unique=False,
                    postgresql_where=sa.text('collected_by_tenant_id IS NOT NULL'),
                    sqlite_where=sa.text('collected_by_tenant_id IS NOT NULL'))
    op.create_table(
        'ledger_check_marks',
        sa.Column('id', BigId, nullable=False),
        sa.Column('entry_id', sa.BigInteger(), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('transactions', sa.BigInteger(), nullable=False),
        sa.Column('checked_at', When, nullable=True),
        sa.Column('full_at', When, nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_check_marks')),
    )
    op.create_table(
        'ledger_check_sums',
        sa.Column('account_id', BigId, nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['ledger_accounts.id'],
                                name=op.f('fk_ledger_check_sums_account_id_ledger_accounts')),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_ledger_check_sums')),
    )


def downgrade():
    op.drop_table('ledger_check_sums')
    op.drop_table('ledger_check_marks')
    op.drop_index('ix_orders_collected_by', table_name='orders')
    op.drop_index('ix_tenants_path_pattern', table_name='tenants')
