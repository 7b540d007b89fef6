"""key_rotations: progress of ``kameng keys rotate`` (one row per rotation)

A new, empty table: no existing table is rewritten.

Revision ID: d1a7e0c5b2f4
Revises: 5d7e1b2c9a40
Create Date: 2026-11-29 16:50:00.000000

"""
from alembic import op
import sqlalchemy as sa
import kameng.core.models


# revision identifiers, used by Alembic.
revision = 'd1a7e0c5b2f4'
down_revision = '5d7e1b2c9a40'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
When = kameng.core.models.UTCDateTime(timezone=True)


def upgrade():
    op.create_table('key_rotations',
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.JSON(), nullable=False),
    sa.Column('passes', sa.Integer(), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('not_before', When, nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.Column('updated_at', When, nullable=False),
    sa.Column('finished_at', When, nullable=True),
    sa.Column('id', BigId, nullable=False),
    sa.CheckConstraint("status IN ('running', 'done', 'failed')",
                       name=op.f('ck_key_rotations_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_rotations'))
    )


def downgrade():
    op.drop_table('key_rotations')
