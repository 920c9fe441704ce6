"""indexes for the application list's sorts

Revision ID: 20261215_0001
Revises: 20261210_0001
Create Date: 2026-12-15

The application list sorts by title or by submission time, the id breaking ties; with
these indexes a deep page is read from the index alone, without sorting the table.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '20261215_0001'
down_revision = '20261210_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_title_id', ['title', 'id'], unique=False)
        batch_op.create_index('ix_application_submitted_at_id', ['submitted_at', 'id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index('ix_application_submitted_at_id')
        batch_op.drop_index('ix_application_title_id')
