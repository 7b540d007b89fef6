"""custom domains proven by DNS: the www alias of an apex, and the daily check's results

Adds to ``domains``: ``alias_of_id`` (www.example.com bound with its apex example.com
and proven by the apex's TXT record), ``checked_at``, ``check_failures`` (definite
misses in a row), ``check_found`` (what the last miss found) and ``notified_at``
(when the owner was told). New columns only: no table rewrite.

Revision ID: 5d0c3a7e91b2
Revises: d1a7e0c5b2f4
Create Date: 2026-11-29 16:40:00.000000

"""
from alembic import op
import sqlalchemy as sa
import kameng.core.models


# revision identifiers, used by Alembic.
revision = '5d0c3a7e91b2'
down_revision = 'd1a7e0c5b2f4'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
When = kameng.core.models.UTCDateTime(timezone=True)


def upgrade():
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alias_of_id', BigId, nullable=True))
        batch_op.add_column(sa.Column('checked_at', When, nullable=True))
        batch_op.add_column(sa.Column('check_failures', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('check_found', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('notified_at', When, nullable=True))
        batch_op.create_index(batch_op.f('ix_domains_alias_of_id'), ['alias_of_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_domains_alias_of_id_domains'), 'domains',
                                    ['alias_of_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_domains_alias_of_id_domains'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_domains_alias_of_id'))
        batch_op.drop_column('notified_at')
        batch_op.drop_column('check_found')
        batch_op.drop_column('check_failures')
        batch_op.drop_column('checked_at')
        batch_op.drop_column('alias_of_id')
