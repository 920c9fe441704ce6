"""throttle_hit: the document verifications counted per address

Revision ID: 20261216_0008
Revises: 20261215_0001
Create Date: 2026-12-16

The public verification of documents (the page and ``GET /api/v1/verify``) is limited per
address; each lookup is a row here, deleted once it is older than the limit's window.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20261216_0008'
down_revision = '20261215_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'throttle_hit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('bucket', sa.String(length=16), nullable=False),
        sa.Column('address', sa.String(length=45), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_throttle_hit')),
    )
    with op.batch_alter_table('throttle_hit', schema=None) as batch_op:
        batch_op.create_index('ix_throttle_hit_bucket_address_at', ['bucket', 'address', 'at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('throttle_hit', schema=None) as batch_op:
        batch_op.drop_index('ix_throttle_hit_bucket_address_at')
    op.drop_table('throttle_hit')
