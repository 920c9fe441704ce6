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
(``workflow.core.listing.Grams``). SQLite, the embedded default for a city's few
thousand applications, searches by ``LIKE`` alone and gets nothing here.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261228_0001'
down_revision = '20261227_0010'
branch_labels = None
depends_on = None

# IMMUTABLE (an index may use it) and the same on every call: NULL arguments have no
# pieces, a text of one character none either.
SEARCH_GRAMS = """
CREATE FUNCTION search_grams(VARIADIC parts text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(lower(p), i, 2)), '{}')
    FROM unnest(parts) AS p, generate_series(1, char_length(p) - 1) AS i
$$
"""


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(SEARCH_GRAMS)
    op.execute("CREATE INDEX ix_application_search_grams ON application USING gin "
               "(search_grams(title, receipt_no, project_number))")
    op.execute("CREATE INDEX ix_tranche_search_grams ON tranche USING gin "
               "(search_grams(project_number, payee_name, label, payment_ref))")


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("DROP INDEX ix_tranche_search_grams")
    op.execute("DROP INDEX ix_application_search_grams")
    op.execute("DROP FUNCTION search_grams(text[])")
