"""milestone, funding decision and objection on the engine

Each gets the engine's row columns (the head of its own audit chain and a version for
the optimistic check). A milestone judged by one party only gets the state that says
so: a reported milestone the demand side passed is ``demand_accepted``, one the officer
passed is ``officer_accepted``. The audit rows written so far stay where they are (on
the project or the call): moving them would break those chains.

On SQLite the columns are added and dropped in place (no table is rebuilt: with foreign
keys on, dropping the old ``funding_decision`` would delete its items). Only the
milestone's CHECK constraint needs its table rebuilt, and the tranches' references to
milestones, which that rebuild sets to NULL, are put back.

Revision ID: 20261206_0001
Revises: 20261128_0012
Create Date: 2026-12-06

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20261206_0001'
down_revision = '20261128_0012'
branch_labels = None
depends_on = None

TABLES = ("milestone", "funding_decision", "objection")
OLD_STATES = ("planned", "reported", "accepted", "rejected", "cancelled")
NEW_STATES = ("planned", "reported", "demand_accepted", "officer_accepted", "accepted",
              "rejected", "cancelled")
CHECK = "ck_milestone_milestone_state"


def _milestone_states(states):
    bind = op.get_bind()
    kept = []
    if bind.dialect.name == "sqlite":
        kept = [dict(r._mapping) for r in bind.execute(sa.text(
            "SELECT id, milestone_id FROM tranche WHERE milestone_id IS NOT NULL"))]
    with op.batch_alter_table("milestone", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CHECK), type_="check")
        batch_op.create_check_constraint(
            op.f(CHECK), "state IN (" + ", ".join(f"'{s}'" for s in states) + ")")
    if kept:
        bind.execute(sa.text("UPDATE tranche SET milestone_id = :milestone_id WHERE id = :id"),
                     kept)


def upgrade():
    for table in TABLES:
        op.add_column(table, sa.Column('audit_seq', sa.Integer(), nullable=False,
                                       server_default='0'))
        op.add_column(table, sa.Column('audit_hash', sa.String(length=64), nullable=True))
        op.add_column(table, sa.Column('version', sa.Integer(), nullable=False,
                                       server_default='1'))
    _milestone_states(NEW_STATES)
    # A reported milestone carries the verdicts given so far (a new report clears them,
    # a fail rejects it at once, and two passes accept it): one pass is a state now.
    op.execute("UPDATE milestone SET state = 'demand_accepted' "
               "WHERE state = 'reported' AND demand_verdict = 'pass'")
    op.execute("UPDATE milestone SET state = 'officer_accepted' "
               "WHERE state = 'reported' AND officer_verdict = 'pass'")


def downgrade():
    op.execute("UPDATE milestone SET state = 'reported' "
               "WHERE state IN ('demand_accepted', 'officer_accepted')")
    _milestone_states(OLD_STATES)
    for table in reversed(TABLES):
        op.drop_column(table, 'version')
        op.drop_column(table, 'audit_hash')
        op.drop_column(table, 'audit_seq')
