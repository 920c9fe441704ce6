"""the user list's search of logins and e-mail addresses reads an index (issue 19)

The user list searches the username, the name and the e-mail address (``accounts.lists``):
at 150,000 people, ``ILIKE`` read them all (0.2 s a count). Names have their index of
two-character pieces already (20261228_0001); this one is the logins' and addresses'.

Revision ID: 20261229_0001
Revises: 20261228_0001
Create Date: 2026-12-08
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261229_0001'
down_revision = '20261228_0001'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE INDEX ix_user_account_login_search_grams ON user_account USING gin "
                   "(search_grams(username, email))")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX ix_user_account_login_search_grams")
