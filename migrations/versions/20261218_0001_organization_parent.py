"""an organisation's recommending body (主管部门)

``organization.parent_id``: the recommending body (an organisation of kind government)
the organisation is under. A recommender sees and recommends only the applications of
the organisations directly under their own. Existing organisations start under none.

On SQLite the column and its foreign key are added by rebuilding the table (batch mode;
``migrations/env.py`` turns foreign keys off while migrating, so nothing that refers to
an organisation is touched).

Revision ID: 20261218_0001
Revises: 20261216_0002
Create Date: 2026-12-18
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20261218_0001'
down_revision = '20261216_0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_organization_parent_id'), ['parent_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_organization_parent_id_organization'),
                                    'organization', ['parent_id'], ['id'])


def downgrade():
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_organization_parent_id_organization'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_organization_parent_id'))
        batch_op.drop_column('parent_id')
