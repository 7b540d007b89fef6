"""staff roles (manager / support / finance) and blocked accounts

- ``users.staff_role``: what a ``staff`` account may do in the back office; every
  existing staff account becomes a ``manager`` (what staff could do until now);
- ``users.blocked_at``: a customer blocked or a staff account disabled by the shop.

Revision ID: 5b7e2d1c9a40
Revises: 5d0c3a7e91b2
Create Date: 2026-11-29 16:50:00.000000

"""
from alembic import op
import sqlalchemy as sa
import kameng.core.models


# revision identifiers, used by Alembic.
revision = '5b7e2d1c9a40'
down_revision = '5d0c3a7e91b2'
branch_labels = None
depends_on = None

When = kameng.core.models.UTCDateTime(timezone=True)


def upgrade():
    # nullable columns: no table rewrite on PostgreSQL
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_role', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('blocked_at', When, nullable=True))
    op.execute("UPDATE users SET staff_role = 'manager' WHERE role = 'staff'")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_check_constraint(
            'ck_users_staff_role_set', "(role = 'staff') = (staff_role IS NOT NULL)")
        batch_op.create_check_constraint(
            'ck_users_staff_role', "staff_role IS NULL OR staff_role IN ('manager', 'support', 'finance')")


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('ck_users_staff_role', type_='check')
        batch_op.drop_constraint('ck_users_staff_role_set', type_='check')
        batch_op.drop_column('blocked_at')
        batch_op.drop_column('staff_role')
