"""coupons (优惠券): a shop's codes, their redemptions, and the discount on orders

- ``coupons``: percent (basis points) or fixed, scope shop/category/product, validity
  window (UTC), total and per-buyer uses, minimum amount, a uses counter;
- ``coupon_redemptions``: one per order (unique), held or released;
- ``orders.discount``, ``orders.coupon_code``, ``order_lines.discount``.

Revision ID: 6c9a6f3fb73f
Revises: a4dc8208be39
Create Date: 2026-11-29 14:30:00.000000

"""
from alembic import op
import sqlalchemy as sa
import kameng.core.models


# revision identifiers, used by Alembic.
revision = '6c9a6f3fb73f'
down_revision = 'a4dc8208be39'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
When = kameng.core.models.UTCDateTime(timezone=True)


def upgrade():
    op.create_table('coupons',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('category_id', BigId, nullable=True),
    sa.Column('product_id', BigId, nullable=True),
    sa.Column('starts_at', When, nullable=True),
    sa.Column('ends_at', When, nullable=True),
    sa.Column('max_uses', sa.Integer(), nullable=True),
    sa.Column('per_buyer', sa.Integer(), nullable=True),
    sa.Column('min_amount', sa.BigInteger(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', BigId, nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.Column('tenant_id', BigId, nullable=False),
    sa.CheckConstraint("kind IN ('percent', 'fixed')", name=op.f('ck_coupons_kind')),
    sa.CheckConstraint("scope IN ('shop', 'category', 'product')", name=op.f('ck_coupons_scope')),
    sa.CheckConstraint("value > 0 AND (kind <> 'percent' OR value <= 10000)",
                       name=op.f('ck_coupons_value')),
    sa.CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)",
                       name=op.f('ck_coupons_uses')),
    sa.CheckConstraint("min_amount >= 0", name=op.f('ck_coupons_min_amount')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'],
                            name=op.f('fk_coupons_category_id_categories')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'],
                            name=op.f('fk_coupons_product_id_products')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_coupons_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_coupons_tenant_id_code'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupons_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('coupon_redemptions',
    sa.Column('coupon_id', BigId, nullable=False),
    sa.Column('order_id', BigId, nullable=False),
    sa.Column('buyer', sa.String(length=270), nullable=False),
    sa.Column('discount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('id', BigId, nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.Column('tenant_id', BigId, nullable=False),
    sa.CheckConstraint("status IN ('held', 'released')",
                       name=op.f('ck_coupon_redemptions_status')),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'],
                            name=op.f('fk_coupon_redemptions_coupon_id_coupons'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'],
                            name=op.f('fk_coupon_redemptions_order_id_orders'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_coupon_redemptions_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_redemptions')),
    sa.UniqueConstraint('order_id', name=op.f('uq_coupon_redemptions_order_id'))
    )
    with op.batch_alter_table('coupon_redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_coupon_redemptions_coupon_buyer', ['coupon_id', 'buyer'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_coupon_redemptions_tenant_id'), ['tenant_id'],
                              unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discount', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('coupon_code', sa.String(length=32), nullable=True))
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('discount', sa.BigInteger(), server_default='0',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_column('discount')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('coupon_code')
        batch_op.drop_column('discount')
    op.drop_table('coupon_redemptions')
    op.drop_table('coupons')
