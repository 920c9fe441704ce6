"""the application's (state, id) index, for the 工作台 and the lists by state

Revision ID: 20261227_0005
Revises: 20261227_0004
Create Date: 2026-12-27

Each person's home page (workflow/workbench/todo.py) reads, per state from which they
act, the oldest rows in it: ``WHERE state = ? ORDER BY id LIMIT 501``. At 1,000,000
applications (120,000 awaiting formal review) an index on ``state`` alone gives the
rows in no useful order, to be sorted whole; ``(state, id)`` gives them in order, and
the 501st stops the scan. It serves whatever ``state`` alone served, which it replaces.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261227_0005'
down_revision = '20261227_0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_state_id', ['state', 'id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_application_state'))


def downgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_state'), ['state'], unique=False)
        batch_op.drop_index('ix_application_state_id')
