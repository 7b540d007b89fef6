"""theme studio (装修): the versions of a shop's appearance

- ``theme_versions``: per shop, its one draft (no number, not published) and every
  published version (numbered 1, 2, …; the highest is live): theme, settings, custom
  CSS, who saved or published it, when, and the version a roll-back copied.

Revision ID: 5d7e1b2c9a40
Revises: 6c9a6f3fb73f
Create Date: 2026-11-29 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import kameng.core.models


# revision identifiers, used by Alembic.
revision = '5d7e1b2c9a40'
down_revision = '6c9a6f3fb73f'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
When = kameng.core.models.UTCDateTime(timezone=True)


def upgrade():
    op.create_table('theme_versions',
    sa.Column('number', sa.Integer(), nullable=True),
    sa.Column('theme', sa.String(length=63), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('custom_css', sa.Text(), nullable=False),
    sa.Column('author_id', BigId, nullable=True),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('published_at', When, nullable=True),
    sa.Column('restored_from', sa.Integer(), nullable=True),
    sa.Column('id', BigId, nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.Column('tenant_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'],
                            name=op.f('fk_theme_versions_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_theme_versions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_theme_versions')),
    sa.UniqueConstraint('tenant_id', 'number', name=op.f('uq_theme_versions_tenant_id_number'))
    )
    with op.batch_alter_table('theme_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_theme_versions_tenant_id'), ['tenant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('theme_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_theme_versions_tenant_id'))
    op.drop_table('theme_versions')
