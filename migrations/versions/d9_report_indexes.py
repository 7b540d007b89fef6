"""scale reports: an account's latest entries, a shop's sales total from an index

- ``ix_ledger_entries_account_id_id`` (account, id): an account's history and a
  shop's statement read its latest entries from the index instead of sorting all
  of the account's entries;
- ``ix_commissions_tenant_status`` (shop, status, INCLUDE amount on PostgreSQL): the
  reports' per-shop sales totals are index-only scans, not a heap page per order.

Plain ``CREATE INDEX`` (no table rewrite).

Revision ID: 5a9c2e7b1f30
Revises: 8f2d4c6a1e37
Create Date: 2026-11-29 20:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5a9c2e7b1f30'
down_revision = '8f2d4c6a1e37'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_ledger_entries_account_id_id', 'ledger_entries',
                    ['account_id', 'id'], unique=False)
    op.create_index('ix_commissions_tenant_status', 'commissions', ['tenant_id', 'status'],
                    unique=False, postgresql_include=['amount'])


def downgrade():
    op.drop_index('ix_commissions_tenant_status', table_name='commissions')
    op.drop_index('ix_ledger_entries_account_id_id', table_name='ledger_entries')
