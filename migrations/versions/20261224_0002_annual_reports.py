"""annual reports (年度报告) of running projects

Revision ID: 20261224_0002
Revises: 20261224_0001
Create Date: 2026-12-24

- ``annual_report``: one per project and year (unique), its state (``states.ANNUAL_REPORT``),
  due date, the team's content (progress, indicators, outputs, spending by category in
  万元, for 包干制 where and when the unit published it) and the dates of each step.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '20261224_0002'
down_revision = '20261224_0001'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('annual_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('due', 'submitted', 'endorsed', 'accepted', 'returned', 'overdue', name='annual_report_state', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('progress', sa.Text(), nullable=False),
    sa.Column('indicators', JSON, nullable=False),
    sa.Column('outputs', sa.Text(), nullable=False),
    sa.Column('spending', JSON, nullable=False),
    sa.Column('spent_total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=True),
    sa.Column('published_where', sa.String(length=200), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('endorsed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('return_reason', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('audit_seq', sa.Integer(), server_default='0', nullable=False),
    sa.Column('audit_hash', sa.String(length=64), nullable=True),
    sa.CheckConstraint('spent_total >= 0', name=op.f('ck_annual_report_spent_nonnegative')),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_annual_report_application_id_application'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annual_report')),
    sa.UniqueConstraint('application_id', 'year', name=op.f('uq_annual_report_application_id_year'))
    )
    with op.batch_alter_table('annual_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annual_report_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annual_report_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_annual_report_year'), ['year'], unique=False)


def downgrade():
    with op.batch_alter_table('annual_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annual_report_year'))
        batch_op.drop_index(batch_op.f('ix_annual_report_state'))
        batch_op.drop_index(batch_op.f('ix_annual_report_application_id'))
    op.drop_table('annual_report')
