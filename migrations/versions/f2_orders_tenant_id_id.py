"""a subtree's order list: each shop's order ids from an index

- ``ix_orders_tenant_id_id`` (shop, id): the back office's order list of a shop and
  its subtree reads the page's order ids from the index (each shop's newest first) and
  then the page's 50 orders, instead of every order of the subtree, one heap page each.

Plain ``CREATE INDEX`` (no table rewrite; writes to ``orders`` wait while it builds:
about 1 s per million orders, measured on 2 busy cores).

Revision ID: 3e8b5f1c9d42
Revises: 2b7e91c4d5a6
Create Date: 2026-11-30 00:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '3e8b5f1c9d42'
down_revision = '2b7e91c4d5a6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_orders_tenant_id_id', 'orders', ['tenant_id', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_orders_tenant_id_id', table_name='orders')
