"""typed facts: signatures, final reports, defence score and acceptance verdicts

Revision ID: 20261206_0002
Revises: 20261206_0001
Create Date: 2026-12-06

The facts the application's guards read leave the untyped ``application.data`` for
columns and tables of their own, with constraints tying them to the state. Each row's
JSON is read and written here in Python (the same on SQLite and PostgreSQL):

- ``data.commitment`` / ``data.pledge`` with a ``signed_at`` -> a ``signature`` row
  (document ``commitment``/``pledge``, party ``team``): ``signed_by``, ``user_id`` (the
  principal investigator when absent), ``signed_at``, ``text`` (the SHA-256 of the text);
- ``data.contract`` -> one ``signature`` row (document ``task_book``) per party in its
  ``signed_by``: the team's and the demand side's ``<party>_signer``/``<party>_signed_at``,
  the bureau's ``bureau_signer`` and ``signed_at`` (a party listed without a time of its
  own takes the contract's, else the row's last change);
- ``data.final_report`` -> a ``final_report`` row (report, surplus, evidence,
  submitted_at; submitted by the principal investigator, the only one who can);
- ``data.demand_acceptance`` -> ``application.demand_verdict``/``demand_opinion``/
  ``demand_verdict_by``/``demand_verdict_at``;
- ``data.acceptance`` -> ``application.acceptance_verdict``/``acceptance_opinions``. A
  completed project's verdict is the pass its ``pass_acceptance`` recorded and a failed
  one's the fail of its ``fail_acceptance``: rows from before the verdict followed the
  transition (a ``fail_acceptance`` without a verdict recorded none, or a default
  ``pass``) take the one their state says; the audit trail keeps what was sent;
- ``data.defence_score`` -> ``application.defence_score``.

Those keys are then removed from ``data``. A key whose value is empty is dropped; one
that holds no fact any version of kjflow wrote (say a commitment without a time) stays
in ``data`` and is named in the log. A completed 揭榜挂帅 project without the demand side's
recorded pass stops the upgrade: nothing here invents the demand side's verdict.

The downgrade writes the facts back into ``data`` in their former shape.
"""
import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '20261206_0002'
down_revision = '20261206_0001'
branch_labels = None
depends_on = None

log = logging.getLogger('alembic.runtime.migration')

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
PAGE = 500
FACT_KEYS = ('commitment', 'pledge', 'contract', 'final_report', 'demand_acceptance',
             'acceptance', 'defence_score')
VERDICTS = ('pass', 'fail')
PARTIES = ('team', 'demand', 'bureau')
AFTER_DEFENCE = ('reviewed', 'shortlisted', 'not_funded', 'public_notice', 'objection',
                 'approved', 'contracted', 'in_progress', 'midterm', 'acceptance',
                 'completed', 'failed', 'terminated')
AT_OR_AFTER_ACCEPTANCE = ('acceptance', 'completed', 'failed', 'terminated')


def _state_in(states):
    return 'state IN (' + ', '.join(f"'{s}'" for s in states) + ')'


# The application's new constraints, as workflow/applying/models.py declares them.
CHECKS = (
    ('ck_application_acceptance_verdict', "acceptance_verdict IN ('pass', 'fail')"),
    ('ck_application_demand_verdict', "demand_verdict IN ('pass', 'fail')"),
    ('ck_application_defence_score_after_defence',
     'defence_score IS NULL OR (defence_score >= 0 AND defence_score <= 100 AND '
     f'{_state_in(AFTER_DEFENCE)})'),
    ('ck_application_acceptance_verdict_at_acceptance',
     f'acceptance_verdict IS NULL OR {_state_in(AT_OR_AFTER_ACCEPTANCE)}'),
    ('ck_application_completed_has_passed',
     "state <> 'completed' OR COALESCE(acceptance_verdict, '') = 'pass'"),
    ('ck_application_failed_has_failed',
     "state <> 'failed' OR COALESCE(acceptance_verdict, '') = 'fail'"),
    ('ck_application_demand_verdict_at_acceptance',
     'demand_verdict IS NULL OR (challenge_id IS NOT NULL AND demand_verdict_at IS NOT NULL '
     f'AND {_state_in(AT_OR_AFTER_ACCEPTANCE)})'),
    ('ck_application_completed_has_demand_pass',
     "state <> 'completed' OR challenge_id IS NULL OR COALESCE(demand_verdict, '') = 'pass'"),
)
COLUMNS = ('defence_score', 'acceptance_verdict', 'acceptance_opinions', 'demand_verdict',
           'demand_opinion', 'demand_verdict_by', 'demand_verdict_at')

application = sa.table(
    'application',
    sa.column('id', sa.Integer), sa.column('state', sa.String),
    sa.column('challenge_id', sa.Integer), sa.column('applicant_id', sa.Integer),
    sa.column('data', JSON), sa.column('updated_at', sa.DateTime(timezone=True)),
    sa.column('defence_score', sa.Numeric(5, 2)), sa.column('acceptance_verdict', sa.String),
    sa.column('acceptance_opinions', sa.Text), sa.column('demand_verdict', sa.String),
    sa.column('demand_opinion', sa.Text), sa.column('demand_verdict_by', sa.String),
    sa.column('demand_verdict_at', sa.DateTime(timezone=True)),
)
user_account = sa.table('user_account', sa.column('id', sa.Integer),
                        sa.column('name', sa.String))
signature = sa.table(
    'signature',
    sa.column('application_id', sa.Integer), sa.column('document', sa.String),
    sa.column('party', sa.String), sa.column('signer_id', sa.Integer),
    sa.column('signer_name', sa.String), sa.column('signed_at', sa.DateTime(timezone=True)),
    sa.column('text_sha256', sa.String),
)
final_report = sa.table(
    'final_report',
    sa.column('application_id', sa.Integer), sa.column('report', sa.Text),
    sa.column('surplus', sa.Numeric(14, 2)), sa.column('evidence', JSON),
    sa.column('submitted_by_id', sa.Integer),
    sa.column('submitted_at', sa.DateTime(timezone=True)),
)


# ---- values -----------------------------------------------------------------------------

def _aware(value):
    """A stored time as an aware UTC datetime (SQLite keeps them naive, in UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored(value):
    """An aware time as the application stores it: UTC, without an offset on SQLite."""
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None) if op.get_bind().dialect.name == 'sqlite' else value


def _parse_time(value):
    """An ISO time from the JSON (naive ones were written in UTC), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def _iso(value):
    return _aware(value).isoformat() if value is not None else None


def _decimal(value):
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _text(value, length=None):
    text = '' if value is None else str(value)
    return text[:length] if length else text


def _empty(value):
    return value is None or value == '' or value == {} or value == []


# ---- upgrade ----------------------------------------------------------------------------

class _Row:
    """One application's facts read from its JSON: what goes where, and which keys of
    ``data`` they came from."""

    def __init__(self, row, user_ids):
        self.row = row
        self.data = dict(row.data) if isinstance(row.data, dict) else {}
        self.user_ids = user_ids
        self.signatures = []
        self.final_report = None
        self.values = {}
        self.carried = set()
        self.fallback = _aware(row.updated_at)

    def read(self):
        for key in FACT_KEYS:
            value = self.data.get(key)
            if _empty(value):
                if key in self.data:
                    self.carried.add(key)
                continue
            if getattr(self, f'_read_{key}')(value):
                self.carried.add(key)
        self._verdict_from_state()
        return self

    def _read_commitment(self, value, document='commitment'):
        at = _parse_time(value.get('signed_at')) if isinstance(value, dict) else None
        if at is None:
            return False
        user_id = value.get('user_id')
        self.signatures.append({
            'document': document, 'party': 'team',
            'signer_id': user_id if user_id in self.user_ids else self.row.applicant_id,
            'signer_name': _text(value.get('signed_by') or self.row.applicant_name, 100),
            'signed_at': at,
            'text_sha256': _text(value['text'], 64) if value.get('text') else None})
        return True

    def _read_pledge(self, value):
        return self._read_commitment(value, 'pledge')

    def _read_contract(self, value):
        parties = value.get('signed_by') if isinstance(value, dict) else None
        if not isinstance(parties, list) or not set(parties) <= set(PARTIES):
            return False
        contract_at = _parse_time(value.get('signed_at'))
        for party in sorted(set(parties)):
            if party == 'bureau':
                at, name = contract_at, value.get('bureau_signer')
            else:
                at = _parse_time(value.get(f'{party}_signed_at'))
                name = value.get(f'{party}_signer') or (
                    self.row.applicant_name if party == 'team' else '')
            self.signatures.append({
                'document': 'task_book', 'party': party,
                'signer_id': self.row.applicant_id if party == 'team' else None,
                'signer_name': _text(name, 100),
                'signed_at': at or contract_at or self.fallback, 'text_sha256': None})
        return True

    def _read_final_report(self, value):
        if not isinstance(value, dict):
            return False
        surplus = _decimal(value.get('surplus') or '0')
        if surplus is None or surplus < 0:
            return False
        evidence = value.get('evidence')
        self.final_report = {
            'report': _text(value.get('report')), 'surplus': surplus.quantize(Decimal('0.01')),
            'evidence': [str(e) for e in evidence] if isinstance(evidence, list) else [],
            'submitted_by_id': self.row.applicant_id,
            'submitted_at': _parse_time(value.get('submitted_at')) or self.fallback}
        return True

    def _read_demand_acceptance(self, value):
        if not (isinstance(value, dict) and value.get('verdict') in VERDICTS
                and self.row.challenge_id is not None
                and self.row.state in AT_OR_AFTER_ACCEPTANCE):
            return False
        self.values.update(
            demand_verdict=value['verdict'], demand_opinion=_text(value.get('opinion')),
            demand_verdict_by=_text(value.get('by'), 100),
            demand_verdict_at=_parse_time(value.get('at')) or self.fallback)
        return True

    def _read_acceptance(self, value):
        if not isinstance(value, dict):
            return False
        verdict = value.get('verdict')
        if self.row.state in ('completed', 'failed'):
            pass  # the state's verdict, below
        elif verdict not in VERDICTS or self.row.state not in AT_OR_AFTER_ACCEPTANCE:
            return False
        else:
            self.values['acceptance_verdict'] = verdict
        self.values['acceptance_opinions'] = _text(value.get('opinions')) or None
        return True

    def _read_defence_score(self, value):
        score = _decimal(value)
        if score is None or not 0 <= score <= 100 or self.row.state not in AFTER_DEFENCE:
            return False
        self.values['defence_score'] = score.quantize(Decimal('0.01'))
        return True

    def _verdict_from_state(self):
        if self.row.state == 'completed':
            self.values['acceptance_verdict'] = 'pass'
        elif self.row.state == 'failed':
            self.values['acceptance_verdict'] = 'fail'


def _carry_rows(conn):
    user_ids = set(conn.scalars(sa.select(user_account.c.id)))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(application.c.id, application.c.state, application.c.challenge_id,
                      application.c.applicant_id, application.c.data,
                      application.c.updated_at, user_account.c.name.label('applicant_name'))
            .join_from(application, user_account,
                       application.c.applicant_id == user_account.c.id)
            .where(application.c.id > last).order_by(application.c.id).limit(PAGE)).all()
        if not rows:
            return
        for row in rows:
            _carry(conn, _Row(row, user_ids).read())
        last = rows[-1].id


def _carry(conn, facts):
    row = facts.row
    left = sorted(k for k in FACT_KEYS if k in facts.data and k not in facts.carried)
    if left:
        log.warning('application %s: data keys %s hold no fact that can be carried over; '
                    'they stay in data for a person to look at', row.id, ', '.join(left))
    for sig in facts.signatures:
        conn.execute(signature.insert().values(
            application_id=row.id, **{**sig, 'signed_at': _stored(sig['signed_at'])}))
    if facts.final_report is not None:
        report = facts.final_report
        conn.execute(final_report.insert().values(
            application_id=row.id,
            **{**report, 'submitted_at': _stored(report['submitted_at'])}))
    values = dict(facts.values)
    if values.get('demand_verdict_at') is not None:
        values['demand_verdict_at'] = _stored(values['demand_verdict_at'])
    if facts.carried:
        values['data'] = {k: v for k, v in facts.data.items() if k not in facts.carried}
    if values:
        conn.execute(application.update().where(application.c.id == row.id).values(**values))


def _refuse_completed_without_demand_pass(conn):
    missing = list(conn.scalars(sa.select(application.c.id).where(
        application.c.state == 'completed', application.c.challenge_id.is_not(None),
        sa.or_(application.c.demand_verdict.is_(None),
               application.c.demand_verdict != 'pass')).order_by(application.c.id)))
    if missing:
        raise RuntimeError(
            'completed 揭榜挂帅 applications without the demand side\'s recorded pass '
            f'(data.demand_acceptance): {", ".join(map(str, missing))}; record it, then '
            'upgrade again')


def upgrade():
    op.create_table('signature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('document', sa.Enum('commitment', 'pledge', 'task_book', name='signed_document', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('party', sa.Enum('team', 'demand', 'bureau', name='signing_party', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('signer_id', sa.Integer(), nullable=True),
    sa.Column('signer_name', sa.String(length=100), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('text_sha256', sa.String(length=64), nullable=True),
    sa.CheckConstraint("document = 'task_book' OR party = 'team'", name=op.f('ck_signature_letters_signed_by_team')),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_signature_application_id_application'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signer_id'], ['user_account.id'], name=op.f('fk_signature_signer_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature')),
    sa.UniqueConstraint('application_id', 'document', 'party', name=op.f('uq_signature_application_id_document_party'))
    )
    op.create_table('final_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.Column('surplus', sa.Numeric(precision=14, scale=2), server_default='0', nullable=False),
    sa.Column('evidence', JSON, nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('surplus >= 0', name=op.f('ck_final_report_surplus_nonnegative')),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_final_report_application_id_application'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['user_account.id'], name=op.f('fk_final_report_submitted_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_final_report')),
    sa.UniqueConstraint('application_id', name=op.f('uq_final_report_application_id'))
    )
    # The columns first, bare (their enum CHECKs come with the others once they hold the
    # facts): on SQLite this adds them in place.
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('defence_score', sa.Numeric(precision=5, scale=2), nullable=True))
        batch_op.add_column(sa.Column('acceptance_verdict', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('acceptance_opinions', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('demand_verdict', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('demand_opinion', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('demand_verdict_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('demand_verdict_at', sa.DateTime(timezone=True), nullable=True))

    conn = op.get_bind()
    _carry_rows(conn)
    _refuse_completed_without_demand_pass(conn)

    with op.batch_alter_table('application', schema=None) as batch_op:
        for name, condition in CHECKS:
            batch_op.create_check_constraint(op.f(name), condition)


# ---- downgrade --------------------------------------------------------------------------

def _facts_of(row, sigs, report):
    """The facts of one application in the shape ``data`` held them before."""
    out = {}
    contract = {}
    for sig in sigs:
        if sig.document in ('commitment', 'pledge'):
            out[sig.document] = {'signed_by': sig.signer_name, 'user_id': sig.signer_id,
                                 'signed_at': _iso(sig.signed_at), 'text': sig.text_sha256}
        else:
            contract.setdefault('signed_by', []).append(sig.party)
            if sig.party == 'bureau':
                contract['signed_at'] = _iso(sig.signed_at)
                contract['bureau_signer'] = sig.signer_name
            else:
                contract[f'{sig.party}_signed_at'] = _iso(sig.signed_at)
                contract[f'{sig.party}_signer'] = sig.signer_name
    if contract:
        contract['signed_by'] = sorted(contract['signed_by'])
        out['contract'] = contract
    if report is not None:
        out['final_report'] = {'report': report.report, 'surplus': str(report.surplus),
                               'evidence': list(report.evidence or []),
                               'submitted_at': _iso(report.submitted_at)}
    if row.demand_verdict is not None:
        out['demand_acceptance'] = {
            'verdict': row.demand_verdict, 'opinion': row.demand_opinion or '',
            'by': row.demand_verdict_by or '', 'at': _iso(row.demand_verdict_at)}
    if row.acceptance_verdict is not None:
        out['acceptance'] = {'verdict': row.acceptance_verdict,
                             'opinions': row.acceptance_opinions or ''}
    if row.defence_score is not None:
        out['defence_score'] = str(row.defence_score)
    return out


def downgrade():
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(application.c.id, application.c.data,
                      *(application.c[name] for name in COLUMNS))
            .where(application.c.id > last).order_by(application.c.id).limit(PAGE)).all()
        if not rows:
            break
        ids = [r.id for r in rows]
        sigs = {}
        for sig in conn.execute(sa.select(signature).where(
                signature.c.application_id.in_(ids)).order_by(signature.c.party)):
            sigs.setdefault(sig.application_id, []).append(sig)
        reports = {r.application_id: r for r in conn.execute(
            sa.select(final_report).where(final_report.c.application_id.in_(ids)))}
        for row in rows:
            facts = _facts_of(row, sigs.get(row.id, []), reports.get(row.id))
            if facts:
                conn.execute(application.update().where(application.c.id == row.id)
                             .values(data={**(row.data or {}), **facts}))
        last = rows[-1].id

    with op.batch_alter_table('application', schema=None) as batch_op:
        for name, _condition in reversed(CHECKS):
            batch_op.drop_constraint(op.f(name), type_='check')
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)

    op.drop_table('final_report')
    op.drop_table('signature')
