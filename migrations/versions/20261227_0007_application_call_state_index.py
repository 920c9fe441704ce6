"""(call_id, state) index on application, for a call's ranking (issue 19)

Revision ID: 20261227_0007
Revises: 20261227_0006
Create Date: 2026-12-27

The ranking and the decision proposal read a call's applications in the states after
review. With indexes on (call_id, id) and (state, id) only, PostgreSQL joined the call's
100,000 entries with the 457,000 of those states in a BitmapAnd: 220 ms of a 420 ms query,
twice per ranking. ``(call_id, state)`` finds them in 8 ms.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261227_0007'
down_revision = '20261227_0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_call_id_state', ['call_id', 'state'], unique=False)


def downgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index('ix_application_call_id_state')
