"""indexes for the review queue, the inbox and a call's applications at scale (issue 19)

Revision ID: 20261227_0003
Revises: 20261227_0002
Create Date: 2026-12-27

- ``review_assignment (expert_id, state)`` replaces ``(expert_id)``: an expert's queue and
  its counts by state among 4,000,000 reviews.
- ``notification (user_id, channel, created_at)`` replaces ``(user_id)``: a person's inbox
  newest first and its unread count.
- ``application (call_id, id)`` replaces ``(call_id)``: a call's applications in id order,
  as the funding decision's batches walk them.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '20261227_0003'
down_revision = '20261227_0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('review_assignment', schema=None) as batch_op:
        batch_op.create_index('ix_review_assignment_expert_state', ['expert_id', 'state'],
                              unique=False)
        batch_op.drop_index('ix_review_assignment_expert_id')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_user_channel_created',
                              ['user_id', 'channel', 'created_at'], unique=False)
        batch_op.drop_index('ix_notification_user_id')
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_call_id_id', ['call_id', 'id'], unique=False)
        batch_op.drop_index('ix_application_call_id')


def downgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_call_id', ['call_id'], unique=False)
        batch_op.drop_index('ix_application_call_id_id')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_user_id', ['user_id'], unique=False)
        batch_op.drop_index('ix_notification_user_channel_created')
    with op.batch_alter_table('review_assignment', schema=None) as batch_op:
        batch_op.create_index('ix_review_assignment_expert_id', ['expert_id'], unique=False)
        batch_op.drop_index('ix_review_assignment_expert_state')
