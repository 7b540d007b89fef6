"""tenants.suspended_by_id: which shop above suspended a shop

Only that shop or one above it may reopen it (``kameng.sales.openshop.resume``); before,
any shop above could, so a parent could reopen a child the master had closed. A nullable
column without a default: no rewrite of the table. Shops suspended before this revision
have none, and only the master may reopen them.

Revision ID: 8f2d4c6a1e37
Revises: 673f39413c64
Create Date: 2026-11-29 20:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8f2d4c6a1e37'
down_revision = '673f39413c64'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenants') as batch_op:
        batch_op.add_column(sa.Column('suspended_by_id', sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True))


def downgrade():
    with op.batch_alter_table('tenants') as batch_op:
        batch_op.drop_column('suspended_by_id')
