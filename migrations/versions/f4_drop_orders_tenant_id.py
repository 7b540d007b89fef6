"""orders: drop ix_orders_tenant_id, which ix_orders_tenant_id_id (tenant_id, id) makes redundant

Every read of a shop's orders by ``tenant_id`` (and the cascade from ``tenants``) is
answered by ``ix_orders_tenant_id_id``, which leads with the same column; the single-
column index was one more index to write on every order and to keep in memory.

On PostgreSQL ``DROP INDEX CONCURRENTLY`` (outside the migration's transaction): it
waits for the transactions using the table instead of locking out sales while it
drops. The downgrade builds the index again, concurrently too. If a concurrent build
is interrupted, PostgreSQL keeps an INVALID index of the same name: ``DROP INDEX`` it
and run the migration again.

Revision ID: 1961e737831f
Revises: 5c2d8e7a1f30
Create Date: 2026-11-30 03:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '1961e737831f'
down_revision = '5c2d8e7a1f30'
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    if _postgresql():
        with op.get_context().autocommit_block():
            op.drop_index('ix_orders_tenant_id', table_name='orders',
                          postgresql_concurrently=True, if_exists=True)
    else:
        op.drop_index('ix_orders_tenant_id', table_name='orders')


def downgrade():
    if _postgresql():
        with op.get_context().autocommit_block():
            op.create_index('ix_orders_tenant_id', 'orders', ['tenant_id'], unique=False,
                            postgresql_concurrently=True)
    else:
        op.create_index('ix_orders_tenant_id', 'orders', ['tenant_id'], unique=False)
