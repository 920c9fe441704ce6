"""application.title_key: 一题多报 finds a year's same titles by an index (issue 19)

Revision ID: 20261227_0008
Revises: 20261227_0007
Create Date: 2026-12-27

The eligibility check before formal review (also shown on the officer's application page)
loaded every live application of the year to compare their titles in Python: at a
province's scale a hundred thousand rows per page view, which held the mixed load of
bench/pages.py at a p95 of 19 s. The title is now kept with its key (lower case, letters
and digits only: ``workflow.applying.models.normal_text``), indexed, and the existing
rows are keyed here.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261227_0008'
down_revision = '20261227_0007'
branch_labels = None
depends_on = None

BATCH = 5000


def _key(title):
    return "".join(ch for ch in title.lower() if ch.isalnum())[:200]


def upgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title_key', sa.String(length=200), nullable=True))
    bind = op.get_bind()
    app = sa.table('application', sa.column('id', sa.Integer), sa.column('title', sa.String),
                   sa.column('title_key', sa.String))
    after = 0
    while True:
        rows = bind.execute(sa.select(app.c.id, app.c.title).where(app.c.id > after)
                            .order_by(app.c.id).limit(BATCH)).all()
        if not rows:
            break
        bind.execute(app.update().where(app.c.id == sa.bindparam('row_id'))
                     .values(title_key=sa.bindparam('key')),
                     [{'row_id': i, 'key': _key(t)} for i, t in rows])
        after = rows[-1][0]
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_title_key', ['title_key'], unique=False)


def downgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index('ix_application_title_key')
        batch_op.drop_column('title_key')
