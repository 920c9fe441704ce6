"""indexes of the finance lists at national scale (issue 19)

Revision ID: 20261227_0002
Revises: 20261226_0001
Create Date: 2026-12-27

- ``ix_ledger_entry_call_id_kind_amount``: the reconciliation's sums per call and kind
  (and a call's ledger page's) read from the index alone, not from every entry's row.
- ``ix_recovery_due_on_id``: the recovery list's default order (nearest deadline first).
- ``ix_sanction_review_created_at_id``: the sanction reviews' default order (newest first).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261227_0002'
down_revision = '20261226_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_ledger_entry_call_id_kind_amount', 'ledger_entry',
                    ['call_id', 'kind', 'amount'], unique=False)
    op.create_index('ix_recovery_due_on_id', 'recovery', ['due_on', 'id'], unique=False)
    op.create_index('ix_sanction_review_created_at_id', 'sanction_review',
                    ['created_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_sanction_review_created_at_id', table_name='sanction_review')
    op.drop_index('ix_recovery_due_on_id', table_name='recovery')
    op.drop_index('ix_ledger_entry_call_id_kind_amount', table_name='ledger_entry')
