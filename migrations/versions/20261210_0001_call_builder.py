"""call builder: dateless drafts and the required items of the formal-review checklist

Revision ID: 20261210_0001
Revises: 20261207_0001
Create Date: 2026-12-10

- ``call.opens_at`` and ``call.closes_at`` may be empty while the call is a draft (a copy
  of last year's guide, or one imported from a file, waits for its dates); a CHECK ties
  every other state to both dates, and publishing asks for them (``call_complete``).
- ``call.checklist_required``: the items of ``call.checklist`` that must be ticked for the
  formal review to pass (必须勾选); none for the calls that exist.

The downgrade refuses while a draft has no dates: it would have to invent them.
"""
import logging

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '20261210_0001'
down_revision = '20261207_0001'
branch_labels = None
depends_on = None

log = logging.getLogger('alembic.runtime.migration')

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
DATED = "state = 'draft' OR (opens_at IS NOT NULL AND closes_at IS NOT NULL)"


def upgrade():
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checklist_required', JSON,
                                      server_default=sa.text("'[]'"), nullable=False))
        batch_op.alter_column('opens_at', existing_type=sa.DateTime(timezone=True),
                              nullable=True)
        batch_op.alter_column('closes_at', existing_type=sa.DateTime(timezone=True),
                              nullable=True)
        batch_op.create_check_constraint(op.f('ck_call_dated_unless_draft'), DATED)


def downgrade():
    conn = op.get_bind()
    undated = [row.id for row in conn.execute(sa.text(
        'SELECT id FROM "call" WHERE opens_at IS NULL OR closes_at IS NULL ORDER BY id'))]
    if undated:
        message = ('cannot downgrade: drafts without their dates (give them dates or delete '
                   'them first): ' + ', '.join(str(i) for i in undated))
        log.error(message)
        raise RuntimeError(message)
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_call_dated_unless_draft'), type_='check')
        batch_op.alter_column('closes_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.alter_column('opens_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.drop_column('checklist_required')
