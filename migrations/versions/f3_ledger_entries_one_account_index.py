"""ledger entries: one index on the account, not two

``ix_ledger_entries_account_id`` (account) is a prefix of
``ix_ledger_entries_account_id_id`` (account, id), which answers every look-up the
first did (by account, and an account's entries in order): each posting wrote both.
Dropped CONCURRENTLY on PostgreSQL (outside the migration's transaction), so
postings go on meanwhile; no table is rewritten. The downgrade builds it again,
concurrently too.

Revision ID: 5c2d8e7a1f30
Revises: 3e8b5f1c9d42
Create Date: 2026-11-30 03:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5c2d8e7a1f30'
down_revision = '3e8b5f1c9d42'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index('ix_ledger_entries_account_id', table_name='ledger_entries',
                          postgresql_concurrently=True, if_exists=True)
    else:
        op.drop_index('ix_ledger_entries_account_id', table_name='ledger_entries')


def downgrade():
    # concurrently too: a plain CREATE INDEX would hold off every posting while it builds
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index('ix_ledger_entries_account_id', 'ledger_entries', ['account_id'],
                            unique=False, postgresql_concurrently=True)
    else:
        op.create_index('ix_ledger_entries_account_id', 'ledger_entries', ['account_id'],
                        unique=False)
