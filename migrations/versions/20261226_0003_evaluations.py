"""performance evaluations (绩效评价) at closure, and the grades kept on people and
organisations

Revision ID: 20261226_0003
Revises: 20261224_0003
Create Date: 2026-12-26

- ``evaluation``: one per closed project (unique), its state (``states.EVALUATION``), the
  facts it was judged on, the proposed and the adjusted scores (each 0-25), total, grade.
- ``performance_record``: a confirmed grade kept on the PI, a team member with an account,
  or the undertaking organisation.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '20261226_0003'
down_revision = '20261224_0003'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('evaluation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('draft', 'proposed', 'confirmed', name='evaluation_state', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('closure', sa.String(length=16), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=False),
    sa.Column('facts', JSON, nullable=False),
    sa.Column('proposed', JSON, nullable=False),
    sa.Column('proposed_total', sa.Integer(), nullable=False),
    sa.Column('proposed_grade', sa.Enum('excellent', 'good', 'qualified', 'unqualified', name='proposed_grade', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('adjusted', JSON, nullable=True),
    sa.Column('adjust_reason', sa.Text(), nullable=False),
    sa.Column('adjusted_by', sa.String(length=100), nullable=True),
    sa.Column('adjusted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('grade', sa.Enum('excellent', 'good', 'qualified', 'unqualified', name='grade', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_by', sa.String(length=100), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('audit_seq', sa.Integer(), server_default='0', nullable=False),
    sa.Column('audit_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state <> 'confirmed' OR confirmed_at IS NOT NULL", name=op.f('ck_evaluation_confirmed_when')),
    sa.CheckConstraint('proposed_total BETWEEN 0 AND 100', name=op.f('ck_evaluation_proposed_total_range')),
    sa.CheckConstraint('total BETWEEN 0 AND 100', name=op.f('ck_evaluation_total_range')),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_evaluation_application_id_application'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation')),
    sa.UniqueConstraint('application_id', name=op.f('uq_evaluation_application_id'))
    )
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_grade'), ['grade'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluation_state'), ['state'], unique=False)

    op.create_table('performance_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=8), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('grade', sa.Enum('excellent', 'good', 'qualified', 'unqualified', name='grade', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('confirmed_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(subject = 'org') = (organization_id IS NOT NULL AND user_id IS NULL)", name=op.f('ck_performance_record_subject_identified')),
    sa.CheckConstraint("subject IN ('pi', 'member', 'org')", name=op.f('ck_performance_record_subject_known')),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_performance_record_application_id_application'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluation.id'], name=op.f('fk_performance_record_evaluation_id_evaluation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_performance_record_organization_id_organization')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_performance_record_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_performance_record')),
    sa.UniqueConstraint('evaluation_id', 'subject', 'user_id', name=op.f('uq_performance_record_evaluation_id_subject_user_id'))
    )
    with op.batch_alter_table('performance_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_performance_record_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_performance_record_evaluation_id'), ['evaluation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_performance_record_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_performance_record_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('performance_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_performance_record_user_id'))
        batch_op.drop_index(batch_op.f('ix_performance_record_organization_id'))
        batch_op.drop_index(batch_op.f('ix_performance_record_evaluation_id'))
        batch_op.drop_index(batch_op.f('ix_performance_record_application_id'))

    op.drop_table('performance_record')
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_state'))
        batch_op.drop_index(batch_op.f('ix_evaluation_grade'))

    op.drop_table('evaluation')
