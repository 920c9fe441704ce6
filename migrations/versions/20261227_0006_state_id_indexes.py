"""(state, id) indexes on reviews and tranches, for the 工作台 (issue 19)

Revision ID: 20261227_0006
Revises: 20261227_0005
Create Date: 2026-12-27

Each person's home page reads, per state from which they act, the oldest rows in it
(``WHERE state = ? ORDER BY id LIMIT 501``). With an index on ``state`` alone PostgreSQL
walked the primary key instead, filtering: the officer's invited reviews, last of
3,900,000, took 390 ms to find. ``(state, id)`` gives them in order; it replaces the
index on ``state``, as on application (20261227_0005).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261227_0006'
down_revision = '20261227_0005'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('review_assignment', 'tranche'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f'ix_{table}_state_id', ['state', 'id'], unique=False)
            batch_op.drop_index(f'ix_{table}_state')


def downgrade():
    for table in ('review_assignment', 'tranche'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f'ix_{table}_state', ['state'], unique=False)
            batch_op.drop_index(f'ix_{table}_state_id')
