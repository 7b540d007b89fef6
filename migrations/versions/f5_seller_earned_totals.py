"""seller earned totals: what each shop earned on each shop's sales, for the sub-shops page

- ``seller_earned_totals`` (earner, seller, net): filled by the reports' rollup job from
  its first run after this migration (its own mark, ``sellers_rolled_to``, starts empty:
  until then the page sums the commissions as before);
- ``commission_rollup_marks.sellers_rolled_to``: a nullable column (no table rewrite).

Revision ID: 8d2f6a41c9e7
Revises: 1961e737831f
Create Date: 2026-11-30 08:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

from kameng.core.models import UTCDateTime

# revision identifiers, used by Alembic.
revision = '8d2f6a41c9e7'
down_revision = '1961e737831f'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        'seller_earned_totals',
        sa.Column('earner_id', BigId, nullable=False),
        sa.Column('seller_id', BigId, nullable=False),
        sa.Column('net', BigId, nullable=False),
        sa.ForeignKeyConstraint(['earner_id'], ['tenants.id'],
                                name=op.f('fk_seller_earned_totals_earner_id_tenants'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['seller_id'], ['tenants.id'],
                                name=op.f('fk_seller_earned_totals_seller_id_tenants'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('earner_id', 'seller_id', name=op.f('pk_seller_earned_totals')))
    op.add_column('commission_rollup_marks',
                  sa.Column('sellers_rolled_to', UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('commission_rollup_marks') as batch:
        batch.drop_column('sellers_rolled_to')
    op.drop_table('seller_earned_totals')
