"""jobs: long work run by the worker, with its progress

Revision ID: 20261207_0001
Revises: 20261206_0002
Create Date: 2026-12-07

A new table only (``workflow/core/models/job.py``); nothing existing changes.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '20261207_0001'
down_revision = '20261206_0002'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('queued', 'running', 'done', 'failed', name='job_state', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('params', JSON, nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('result', JSON, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('done >= 0', name=op.f('ck_job_done_nonnegative')),
    sa.CheckConstraint('total IS NULL OR total >= 0', name=op.f('ck_job_total_nonnegative')),
    sa.CheckConstraint("state NOT IN ('done', 'failed') OR finished_at IS NOT NULL", name=op.f('ck_job_finished_has_time')),
    sa.CheckConstraint("state <> 'failed' OR error IS NOT NULL", name=op.f('ck_job_failed_has_error')),
    sa.ForeignKeyConstraint(['started_by_id'], ['user_account.id'], name=op.f('fk_job_started_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job'))
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_started_by_id'), ['started_by_id'], unique=False)


def downgrade():
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_started_by_id'))

    op.drop_table('job')
