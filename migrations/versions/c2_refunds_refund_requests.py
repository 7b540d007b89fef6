"""refund requests that travel up the tree; how an order was refunded; voided sold codes

- ``refund_requests`` and ``refund_steps`` (who did what to a request, when, why);
- ``orders.refund_kind``: reversal | goodwill | outside;
- ``card_codes.voided_at``, ``void_reason``, ``void_ref``: a sold code voided by a full
  refund, with the order it was sold on.

Revision ID: b6fe0d59722e
Revises: 50468a9e604f
Create Date: 2026-11-29 13:50:00.000000

"""
from alembic import op
import sqlalchemy as sa
import kameng.core.models


# revision identifiers, used by Alembic.
revision = 'b6fe0d59722e'
down_revision = '50468a9e604f'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
When = kameng.core.models.UTCDateTime(timezone=True)


def upgrade():
    op.create_table('refund_requests',
    sa.Column('tenant_id', BigId, nullable=False),
    sa.Column('order_id', BigId, nullable=False),
    sa.Column('order_no', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('holder_tenant_id', BigId, nullable=False),
    sa.Column('requested_by_id', BigId, nullable=True),
    sa.Column('decided_at', When, nullable=True),
    sa.Column('id', BigId, nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.CheckConstraint("status IN ('open', 'approved', 'rejected')",
                       name=op.f('ck_refund_requests_status')),
    sa.ForeignKeyConstraint(['holder_tenant_id'], ['tenants.id'],
                            name=op.f('fk_refund_requests_holder_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'],
                            name=op.f('fk_refund_requests_order_id_orders')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'],
                            name=op.f('fk_refund_requests_requested_by_id_users')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_refund_requests_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_requests'))
    )
    with op.batch_alter_table('refund_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_requests_holder_tenant_id'),
                              ['holder_tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_requests_order_id'), ['order_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_refund_requests_tenant_id'), ['tenant_id'],
                              unique=False)
        batch_op.create_index('uq_refund_requests_open_order', ['order_id'], unique=True,
                              postgresql_where=sa.text("status = 'open'"),
                              sqlite_where=sa.text("status = 'open'"))

    op.create_table('refund_steps',
    sa.Column('request_id', BigId, nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('tenant_id', BigId, nullable=False),
    sa.Column('user_id', BigId, nullable=True),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('to_tenant_id', BigId, nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('id', BigId, nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.CheckConstraint("action IN ('filed', 'forwarded', 'rejected', 'approved')",
                       name=op.f('ck_refund_steps_action')),
    sa.ForeignKeyConstraint(['request_id'], ['refund_requests.id'],
                            name=op.f('fk_refund_steps_request_id_refund_requests'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_refund_steps_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['to_tenant_id'], ['tenants.id'],
                            name=op.f('fk_refund_steps_to_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_refund_steps_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_steps'))
    )
    with op.batch_alter_table('refund_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_steps_request_id'), ['request_id'],
                              unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refund_kind', sa.String(length=16), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        # SQLite would rebuild the whole orders table for a CHECK: there the service's
        # constant is the guard (kameng.sales.models.REFUND_KINDS)
        op.create_check_constraint(op.f('ck_orders_refund_kind'), 'orders',
                                   "refund_kind IN ('reversal', 'goodwill', 'outside')")

    with op.batch_alter_table('card_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voided_at', When, nullable=True))
        batch_op.add_column(sa.Column('void_reason', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('void_ref', sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table('card_codes', schema=None) as batch_op:
        batch_op.drop_column('void_ref')
        batch_op.drop_column('void_reason')
        batch_op.drop_column('voided_at')

    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('ck_orders_refund_kind'), 'orders', type_='check')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('refund_kind')

    op.drop_table('refund_steps')
    op.drop_table('refund_requests')
