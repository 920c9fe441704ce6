"""tranche.project_number: the money lists sort by project without a join (issue 19)

Revision ID: 20261227_0009
Revises: 20261227_0008
Create Date: 2026-12-27

The finance queue and ``/api/v1/tranches`` list tranches by project number. Sorted by the
application's number, a page from the end of a million tranches walked the applications'
number index from its NULL end (900,000 applications never funded) before reaching one
with a tranche: 1.0 to 1.5 s. A tranche now keeps its project's number (copied when the
tranches are planned, after the approval numbered the project; a number never changes),
and (project_number, seq, id) and (state, project_number, seq, id) give every page in
order.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261227_0009'
down_revision = '20261227_0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tranche', schema=None) as batch_op:
        batch_op.add_column(sa.Column('project_number', sa.String(length=32), nullable=True))
    op.execute("UPDATE tranche SET project_number = (SELECT application.project_number "
               "FROM application WHERE application.id = tranche.application_id)")
    with op.batch_alter_table('tranche', schema=None) as batch_op:
        batch_op.create_index('ix_tranche_project_number_seq_id',
                              ['project_number', 'seq', 'id'], unique=False)
        batch_op.create_index('ix_tranche_state_project_number_seq_id',
                              ['state', 'project_number', 'seq', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('tranche', schema=None) as batch_op:
        batch_op.drop_index('ix_tranche_state_project_number_seq_id')
        batch_op.drop_index('ix_tranche_project_number_seq_id')
        batch_op.drop_column('project_number')
