"""commission rollups: per-shop running sums for the reports

- ``commission_rollups``: a shop's commission shares summed per quarter hour written
  and day delivered (append-only; a correction row when a rolled-up order is reversed);
- ``earned_totals``: each shop's earned total up to the mark's ledger entry;
- ``commission_rollup_marks``: how far both go (one row);
- ``ix_commissions_created_at``, ``ix_commissions_reversed_at``: what came after the
  mark, read by the reports.

New tables and plain ``CREATE INDEX`` only (no table rewrite).

Revision ID: 7c41d9e2a853
Revises: 5a9c2e7b1f30
Create Date: 2026-11-29 20:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

from kameng.core.models import UTCDateTime

# revision identifiers, used by Alembic.
revision = '7c41d9e2a853'
down_revision = '5a9c2e7b1f30'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        'commission_rollups',
        sa.Column('tenant_id', BigId, nullable=False),
        sa.Column('slot', UTCDateTime(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('orders', BigId, nullable=False),
        sa.Column('sales', BigId, nullable=False),
        sa.Column('cost', BigId, nullable=False),
        sa.Column('margin', BigId, nullable=False),
        sa.Column('net', BigId, nullable=False),
        sa.Column('id', BigId, nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_commission_rollups_tenant_id_tenants'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_rollups')))
    op.create_index('ix_commission_rollups_tenant_slot', 'commission_rollups',
                    ['tenant_id', 'slot'], unique=False)
    op.create_index('ix_commission_rollups_tenant_day', 'commission_rollups',
                    ['tenant_id', 'day'], unique=False)
    op.create_table(
        'earned_totals',
        sa.Column('tenant_id', BigId, nullable=False),
        sa.Column('amount', BigId, nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                                name=op.f('fk_earned_totals_tenant_id_tenants'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_earned_totals')))
    op.create_table(
        'commission_rollup_marks',
        sa.Column('id', BigId, nullable=False),
        sa.Column('rolled_to', UTCDateTime(), nullable=True),
        sa.Column('entry_id', BigId, nullable=False),
        sa.Column('rolled_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_rollup_marks')))
    op.create_index('ix_commissions_created_at', 'commissions', ['created_at'], unique=False)
    op.create_index('ix_commissions_reversed_at', 'commissions', ['reversed_at'],
                    unique=False)


def downgrade():
    op.drop_index('ix_commissions_reversed_at', table_name='commissions')
    op.drop_index('ix_commissions_created_at', table_name='commissions')
    op.drop_table('commission_rollup_marks')
    op.drop_table('earned_totals')
    op.drop_index('ix_commission_rollups_tenant_day', table_name='commission_rollups')
    op.drop_index('ix_commission_rollups_tenant_slot', table_name='commission_rollups')
    op.drop_table('commission_rollups')
