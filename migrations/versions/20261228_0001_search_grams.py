"""search_grams: the searches of a million applications and tranches read an index (issue 19)

Revision ID: 20261228_0001
Revises: 20261227_0010
Create Date: 2026-12-28

A list's search is ``LIKE '%word%'`` on each column, which no ordinary index serves: a
search of the million applications read every title (``/applications?q=稀土`` 453 ms,
``/finance?q=稀土`` 771 ms; a rare word more, 0.86 s). pg_trgm indexes three-character
pieces and so cannot serve the two-character words Chinese searches mostly are, and
pg_bigm is not packaged for Debian. On PostgreSQL, ``search_grams(text, …)`` gives the
distinct two-character pieces of its arguments, lower-cased, and a GIN index over it
finds the rows holding every piece of a word (``@>``) for ``LIKE`` to check
(``workflow.core.listing.Grams``); the 150,000 people's names, which the application
list searches too, have theirs. SQLite, the embedded default for a city's few
thousand applications, searches by ``LIKE`` alone and gets no index.

The finance queue searched its tranches through their applications and organisations;
through indexes that still meant gathering every matching project's id (a frequent word:
170,000 of them, 0.5 s) to look up its tranches. A tranche now keeps a copy of its
project's title beside the number it already kept (a funded project's title is no longer
edited), and its organisation's id (which never changes): the queue's search reads the
tranches' own indexes.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261228_0001'
down_revision = '20261227_0010'
branch_labels = None
depends_on = None

# IMMUTABLE (an index may use it) and the same on every call: NULL arguments have no
# pieces, a text of one character none either. A piece met twice is kept twice (GIN
# stores each key once, and ``@>`` asks only whether it is there): a loop in PL/pgSQL
# does it in some 10 µs a row, a third of what an aggregate over ``generate_series``
# takes. Its COST tells the planner that working it out row by row is dear: a word's
# rows are found by the index, not by trying it on every row of another index's walk.
SEARCH_GRAMS = """
CREATE FUNCTION search_grams(VARIADIC parts text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE COST 100000 AS $$
DECLARE
    pieces text[] := '{}';
    part text;
BEGIN
    FOREACH part IN ARRAY parts LOOP
        IF part IS NOT NULL THEN
            part := lower(part);
            FOR i IN 1 .. char_length(part) - 1 LOOP
                pieces := pieces || substr(part, i, 2);
            END LOOP;
        END IF;
    END LOOP;
    RETURN pieces;
END
$$
"""


def upgrade():
    with op.batch_alter_table('tranche', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=True))
    op.execute("UPDATE tranche SET title = (SELECT application.title FROM application "
               "WHERE application.id = tranche.application_id), organization_id = ("
               "SELECT application.organization_id FROM application "
               "WHERE application.id = tranche.application_id)")
    with op.batch_alter_table('tranche', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_tranche_organization_id_organization'),
                                    'organization', ['organization_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_tranche_organization_id'), ['organization_id'],
                              unique=False)
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(SEARCH_GRAMS)
    op.execute("CREATE INDEX ix_application_search_grams ON application USING gin "
               "(search_grams(title, receipt_no, project_number))")
    op.execute("CREATE INDEX ix_tranche_search_grams ON tranche USING gin "
               "(search_grams(project_number, title, payee_name, label, payment_ref))")
    op.execute("CREATE INDEX ix_user_account_search_grams ON user_account USING gin "
               "(search_grams(name))")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX ix_user_account_search_grams")
        op.execute("DROP INDEX ix_tranche_search_grams")
        op.execute("DROP INDEX ix_application_search_grams")
        op.execute("DROP FUNCTION search_grams(text[])")
    with op.batch_alter_table('tranche', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tranche_organization_id'))
        batch_op.drop_constraint(batch_op.f('fk_tranche_organization_id_organization'),
                                 type_='foreignkey')
        batch_op.drop_column('organization_id')
        batch_op.drop_column('title')
