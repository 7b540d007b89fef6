"""scale pages: index tenants.name (the order list's shop search)

The master's order list filters by a shop typed as its slug or name instead of a
``<select>`` of every shop; the name is looked up through this index. A plain
``CREATE INDEX`` on the shops table (no rewrite).

Revision ID: 3e8b6f2a4d17
Revises: 7c3e9a1d5b20
Create Date: 2026-11-29 17:45:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '3e8b6f2a4d17'
down_revision = '7c3e9a1d5b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_tenants_name', 'tenants', ['name'], unique=False)


def downgrade():
    op.drop_index('ix_tenants_name', table_name='tenants')
