"""application.review_count/kept/cents: a call's ranking aggregates nothing (issue 19)

Revision ID: 20261227_0010
Revises: 20261227_0009
Create Date: 2026-12-27

The ranking of a call of 100,000 applications aggregated its half a million review totals
on every request (1 to 2 s of the database's time). Each application now keeps its
submitted reviews' count, and how many of them its call's rule keeps with their sum in
whole cents (``trimmed``: with 5 or more, all but the lowest and the highest; ``median``:
the middle one or two; ``mean``: all), written when a review is submitted. This migration
works them out for the reviews already submitted.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261227_0010'
down_revision = '20261227_0009'
branch_labels = None
depends_on = None

# Each submitted total in whole cents, with its place among its application's totals (from
# the lowest) and their number; then, per application, the count, the kept count and the
# kept sum by its call's rule. Written for PostgreSQL and SQLite alike (integer division).
BACKFILL = """
WITH each_total AS (
    SELECT r.application_id AS app, c.aggregation AS rule,
           CAST(ROUND(r.total * 100) AS BIGINT) AS cents,
           ROW_NUMBER() OVER (PARTITION BY r.application_id ORDER BY r.total) AS place,
           COUNT(*) OVER (PARTITION BY r.application_id) AS n
    FROM review_assignment r
    JOIN application a ON a.id = r.application_id
    JOIN call c ON c.id = a.call_id
    WHERE r.state = 'submitted' AND r.total IS NOT NULL
), kept AS (
    SELECT app, n, cents,
           CASE WHEN rule = 'median' THEN place IN ((n + 1) / 2, (n + 2) / 2)
                WHEN rule = 'trimmed' AND n >= 5 THEN place > 1 AND place < n
                ELSE 1 = 1 END AS keeps
    FROM each_total
), sums AS (
    SELECT app, MAX(n) AS n,
           SUM(CASE WHEN keeps THEN 1 ELSE 0 END) AS kept,
           SUM(CASE WHEN keeps THEN cents ELSE 0 END) AS cents
    FROM kept GROUP BY app
)
UPDATE application SET review_count = sums.n, review_kept = sums.kept,
                       review_cents = sums.cents
FROM sums WHERE application.id = sums.app
"""


def upgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_count', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('review_kept', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('review_cents', sa.BigInteger(), nullable=True))
    op.execute(BACKFILL)


def downgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_column('review_cents')
        batch_op.drop_column('review_kept')
        batch_op.drop_column('review_count')
