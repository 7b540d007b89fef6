"""two-factor sign-in (TOTP) and the back-office audit log

Users get a sealed TOTP secret, the time it was switched on and the last time step a
code was accepted for; their one-time recovery codes (hashed) get a table. Audit
events get who (user id), the object, where from (address, user agent), the HTTP
method and status, and whether the write succeeded.

Revision ID: 50468a9e604f
Revises: b68e3d75e380
Create Date: 2026-11-29 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import kameng.core.models


# revision identifiers, used by Alembic.
revision = '50468a9e604f'
down_revision = 'b68e3d75e380'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at',
                                      kameng.core.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))

    op.create_table('recovery_codes',
    sa.Column('user_id', BigId, nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('used_at', kameng.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_recovery_codes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('object_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('ip', sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column('user_agent', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('method', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('status', sa.Integer(), nullable=True))
        # the events recorded so far were written with the action they describe
        batch_op.add_column(sa.Column('ok', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
        batch_op.create_index(batch_op.f('ix_audit_events_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_user_id'))
        for name in ('ok', 'status', 'method', 'user_agent', 'ip', 'object_id', 'user_id'):
            batch_op.drop_column(name)
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))
    op.drop_table('recovery_codes')
    with op.batch_alter_table('users', schema=None) as batch_op:
        for name in ('totp_last_step', 'totp_enabled_at', 'totp_secret'):
            batch_op.drop_column(name)
