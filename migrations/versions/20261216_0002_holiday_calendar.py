"""the holiday calendar in the database; a notice's first day

Revision ID: 20261216_0002
Revises: 20261216_0001
Create Date: 2026-12-16

Working days were counted with the chinese-calendar package, Monday to Friday for a year
it did not know. The calendar now lives in the database (``workflow/holidays/models.py``):
this upgrade writes the years the installed package knows, as they stand in it (an
administrator enters each later year); a year without a row is unknown and a period that
reaches it is refused. Applications on notice keep their published period; their first
day, not stored until now, was the day after the notice opened (the only convention
the product had).
"""
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20261216_0002'
down_revision = '20261216_0001'
branch_labels = None
depends_on = None

SHANGHAI = ZoneInfo("Asia/Shanghai")


def upgrade():
    holiday_year = op.create_table('holiday_year',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('note', sa.String(length=200), server_default='', nullable=False),
    sa.Column('entered_by_id', sa.Integer(), nullable=True),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('audit_seq', sa.Integer(), server_default='0', nullable=False),
    sa.Column('audit_hash', sa.String(length=64), nullable=True),
    sa.CheckConstraint('year BETWEEN 2000 AND 2100', name=op.f('ck_holiday_year_year_range')),
    sa.CheckConstraint("source IN ('chinese_calendar', 'admin')",
                       name=op.f('ck_holiday_year_source_known')),
    sa.ForeignKeyConstraint(['entered_by_id'], ['user_account.id'],
                            name=op.f('fk_holiday_year_entered_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holiday_year')),
    sa.UniqueConstraint('year', name=op.f('uq_holiday_year_year'))
    )
    calendar_day = op.create_table('calendar_day',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('is_working_day', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=40), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['year'], ['holiday_year.year'],
                            name=op.f('fk_calendar_day_year_holiday_year'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_day'))
    )
    with op.batch_alter_table('calendar_day', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_day_year'), ['year'], unique=False)

    op.create_table('calendar_settings',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('opening_day_counts', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('audit_seq', sa.Integer(), server_default='0', nullable=False),
    sa.Column('audit_hash', sa.String(length=64), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_calendar_settings_single_row')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'],
                            name=op.f('fk_calendar_settings_updated_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_settings'))
    )

    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_first_day', sa.Date(), nullable=True))
    application = sa.table('application', sa.column('id', sa.Integer()),
                           sa.column('notice_started_at', sa.DateTime(timezone=True)),
                           sa.column('notice_first_day', sa.Date()))
    conn = op.get_bind()
    for app_id, started in conn.execute(sa.select(
            application.c.id, application.c.notice_started_at).where(
            application.c.notice_started_at.is_not(None))).all():
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        first = started.astimezone(SHANGHAI).date() + timedelta(days=1)
        conn.execute(application.update().where(application.c.id == app_id)
                     .values(notice_first_day=first))

    _seed(conn, holiday_year, calendar_day)


def _seed(conn, holiday_year, calendar_day):
    """The years the installed chinese-calendar knows, each day off and working weekend
    named as the State Council's notice names it."""
    from datetime import datetime

    import chinese_calendar
    from chinese_calendar import constants

    names = {h.value: h.chinese for h in constants.Holiday}
    days = {}
    for table, working in ((constants.holidays, False), (constants.workdays, True)):
        for day, name in table.items():
            days[day] = (working, names.get(name, str(name))[:20])
    years = sorted({day.year for day in days})
    if not years:
        return
    now = datetime.now(UTC)
    if conn.dialect.name == 'sqlite':
        now = now.replace(tzinfo=None)
    note = f"chinese-calendar {chinese_calendar.__version__}"
    conn.execute(holiday_year.insert(), [
        {"year": y, "source": "chinese_calendar", "note": note, "entered_at": now,
         "audit_seq": 0} for y in years])
    conn.execute(calendar_day.insert(), [
        {"day": day, "year": day.year, "is_working_day": working, "name": name}
        for day, (working, name) in sorted(days.items())])


def downgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_column('notice_first_day')

    op.drop_table('calendar_settings')
    with op.batch_alter_table('calendar_day', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_day_year'))

    op.drop_table('calendar_day')
    op.drop_table('holiday_year')
