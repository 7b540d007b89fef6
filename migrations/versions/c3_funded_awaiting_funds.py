"""funded accounts: orders collected by a shop on its own gateway, awaiting funds

Adds ``plans.own_gateway`` (may the plan's shops use their own payment gateway),
``orders.collected_by_tenant_id`` and ``orders.funded_amount`` and the
order status ``awaiting_funds`` (a shop's own gateway took the buyer's money and
its funded account could not yet pay the parent's price).

Revision ID: a4dc8208be39
Revises: b6fe0d59722e
Create Date: 2026-11-29 13:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4dc8208be39'
down_revision = 'b6fe0d59722e'
branch_labels = None
depends_on = None

OLD = "('pending', 'paid', 'fulfilling', 'delivered', 'failed', 'refunded', 'expired')"
NEW = ("('pending', 'paid', 'fulfilling', 'delivered', 'failed', 'refunded', 'expired', "
       "'awaiting_funds')")


def upgrade():
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('own_gateway', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('collected_by_tenant_id',
                                      sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.add_column(sa.Column('funded_amount', sa.BigInteger(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_orders_collected_by_tenant_id_tenants'),
                                    'tenants', ['collected_by_tenant_id'], ['id'])
        batch_op.drop_constraint(batch_op.f('ck_orders_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_orders_status'), f"status IN {NEW}")


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_orders_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_orders_status'), f"status IN {OLD}")
        batch_op.drop_constraint(batch_op.f('fk_orders_collected_by_tenant_id_tenants'),
                                 type_='foreignkey')
        batch_op.drop_column('funded_amount')
        batch_op.drop_column('collected_by_tenant_id')
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_column('own_gateway')
