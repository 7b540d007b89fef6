"""open a shop from a shop's site: sign-ups, invite links, hand-over logins, pending shops

- ``tenants.status`` may be ``pending`` (waiting for approval or its plan's payment);
- ``shop_invites``: a parent's invite links (token hash, preset plan and markup, expiry,
  uses);
- ``shop_signups``: how a shop was opened and what it still waits for (one per e-mail
  and parent, one per form);
- ``login_handovers``: one-time login links on a new shop's host.

Revision ID: 7d1e5a0c9b21
Revises: 5b7e2d1c9a40
Create Date: 2026-11-29 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import kameng.core.models


# revision identifiers, used by Alembic.
revision = '7d1e5a0c9b21'
down_revision = '5b7e2d1c9a40'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
When = kameng.core.models.UTCDateTime(timezone=True)
OLD = "status IN ('active', 'suspended', 'closed')"
NEW = "status IN ('active', 'pending', 'suspended', 'closed')"


def _tenant_status_check(old: str, new: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table('tenants', schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f('ck_tenants_status'), type_='check')
            batch_op.create_check_constraint(batch_op.f('ck_tenants_status'), new)
        return
    # SQLite would rebuild the table, and dropping the old one with foreign keys on
    # deletes every row that cascades from a shop. A CHECK's text is all that changes,
    # so edit it in place, as https://sqlite.org/lang_altertable.html#otheralter allows
    # for constraints that no stored row can violate (here: one value more allowed).
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = replace(sql, ?, ?) "
                         "WHERE type = 'table' AND name = 'tenants'", (old, new))
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade():
    _tenant_status_check(OLD, NEW)

    op.create_table('shop_invites',
    sa.Column('tenant_id', BigId, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('note', sa.String(length=120), nullable=False),
    sa.Column('plan_id', BigId, nullable=True),
    sa.Column('markup_bp', sa.Integer(), nullable=True),
    sa.Column('expires_at', When, nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=True),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('revoked_at', When, nullable=True),
    sa.Column('id', BigId, nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)",
                       name=op.f('ck_shop_invites_uses')),
    sa.CheckConstraint("markup_bp IS NULL OR markup_bp >= 0",
                       name=op.f('ck_shop_invites_markup')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'],
                            name=op.f('fk_shop_invites_plan_id_plans')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_shop_invites_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_invites')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_shop_invites_token_hash'))
    )
    with op.batch_alter_table('shop_invites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_invites_tenant_id'), ['tenant_id'],
                              unique=False)

    op.create_table('shop_signups',
    sa.Column('tenant_id', BigId, nullable=False),
    sa.Column('parent_id', BigId, nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('form_id', sa.String(length=64), nullable=True),
    sa.Column('plan_id', BigId, nullable=True),
    sa.Column('invite_id', BigId, nullable=True),
    sa.Column('awaiting_approval', sa.Boolean(), nullable=False),
    sa.Column('awaiting_payment', sa.Boolean(), nullable=False),
    sa.Column('approved_at', When, nullable=True),
    sa.Column('id', BigId, nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.ForeignKeyConstraint(['invite_id'], ['shop_invites.id'],
                            name=op.f('fk_shop_signups_invite_id_shop_invites'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['parent_id'], ['tenants.id'],
                            name=op.f('fk_shop_signups_parent_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'],
                            name=op.f('fk_shop_signups_plan_id_plans')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_shop_signups_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_signups')),
    sa.UniqueConstraint('form_id', name=op.f('uq_shop_signups_form_id')),
    sa.UniqueConstraint('parent_id', 'email', name=op.f('uq_shop_signups_parent_id_email')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_shop_signups_tenant_id'))
    )
    with op.batch_alter_table('shop_signups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_signups_invite_id'), ['invite_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_shop_signups_parent_id'), ['parent_id'],
                              unique=False)

    op.create_table('login_handovers',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', BigId, nullable=False),
    sa.Column('user_id', BigId, nullable=False),
    sa.Column('next_path', sa.String(length=255), nullable=False),
    sa.Column('expires_at', When, nullable=False),
    sa.Column('used_at', When, nullable=True),
    sa.Column('id', BigId, nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_login_handovers_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_login_handovers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_handovers')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_login_handovers_token_hash'))
    )
    with op.batch_alter_table('login_handovers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_handovers_tenant_id'), ['tenant_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_login_handovers_user_id'), ['user_id'],
                              unique=False)


def downgrade():
    op.drop_table('login_handovers')
    op.drop_table('shop_signups')
    op.drop_table('shop_invites')
    op.execute("UPDATE tenants SET status = 'suspended' WHERE status = 'pending'")
    _tenant_status_check(NEW, OLD)
