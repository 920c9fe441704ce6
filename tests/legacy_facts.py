"""Applications whose workflow facts are still in ``data`` (the shape before migration
20261206_0002), written with SQLAlchemy Core at the revision before it, and what the
migration must make of them: the typed facts on the way up, the same JSON on the way
down. Shared by the SQLite (unit tier) and PostgreSQL (integration tier) tests."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from workflow.core.models import db

BEFORE = "20261206_0001"
TYPED_FACTS = "20261206_0002"

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
SHA = "ab" * 32


def iso(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def _time(engine: sa.Engine, value: datetime) -> datetime:
    return value.replace(tzinfo=None) if engine.dialect.name == "sqlite" else value


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# What each seeded application holds in ``data`` besides its answers.
PLEDGED_AND_COMPLETED: dict[str, Any] = {
    "pledge": {"signed_by": "王五", "user_id": 2, "signed_at": iso(0), "text": SHA},
    "contract": {"signed_by": ["bureau", "demand", "team"],
                 "team_signed_at": iso(10), "team_signer": "王五",
                 "demand_signed_at": iso(20), "demand_signer": "发榜联系人",
                 "signed_at": iso(30), "bureau_signer": "张科长"},
    "final_report": {"report": "全部攻关指标完成，样机通过第三方检测。", "surplus": "0.00",
                     "evidence": [SHA], "submitted_at": iso(40)},
    "demand_acceptance": {"verdict": "pass", "opinion": "指标达到榜单要求", "by": "发榜联系人",
                          "at": iso(50)},
    "acceptance": {"verdict": "pass", "opinions": "专家组一致同意通过验收"},
    "defence_score": "90.75",
}
COMMITTED: dict[str, Any] = {
    "commitment": {"signed_by": "李明", "user_id": 1, "signed_at": iso(0), "text": SHA}}
# fail_acceptance with opinions but no verdict recorded the default, "pass".
FAILED_WITH_DEFAULT_PASS: dict[str, Any] = {
    "commitment": {"signed_by": "李明", "user_id": 1, "signed_at": iso(0), "text": SHA},
    "final_report": {"report": "部分指标未完成。", "surplus": "12345.00", "evidence": [],
                     "submitted_at": iso(40)},
    "acceptance": {"verdict": "pass", "opinions": "关键指标未达到"},
}
# A task book the bureau signed, its team's time not kept: the contract's time stands in.
CONTRACTED: dict[str, Any] = {
    "contract": {"signed_by": ["bureau", "team"], "signed_at": iso(30),
                 "bureau_signer": "张科长"}}
# No fact in these: a commitment without a time stays, an empty report goes.
NOT_FACTS: dict[str, Any] = {"commitment": {"signed_by": "李明"}, "final_report": {}}


def checks_not_as_declared(engine: sa.Engine, tables: tuple[str, ...] | None = None
                       ) -> dict[str, tuple[set[str], set[str]]]:
    """Tables whose CHECK constraints in the database are not the ones the models declare
    (autogenerate compares no CHECK constraints): {table: (models' only, database's only)}."""
    inspector = sa.inspect(engine)
    out = {}
    for table in db.metadata.sorted_tables:
        if tables is not None and table.name not in tables:
            continue
        ddl = str(CreateTable(table).compile(dialect=engine.dialect))
        declared = set(re.findall(r"CONSTRAINT (ck_\w+) CHECK", ddl))
        present = {c["name"] for c in inspector.get_check_constraints(table.name)}
        if declared != present:
            out[table.name] = (declared - present, present - declared)
    return out


def _insert(conn: sa.Connection, table: sa.Table, **values: Any) -> int:
    return int(conn.execute(table.insert().values(**values)).inserted_primary_key[0])


def seed(engine: sa.Engine) -> dict[str, int]:
    """At revision ``BEFORE``: two people, a 包干制 and a 揭榜挂帅 call, and applications
    with their facts in ``data``. Returns the applications' ids by name."""
    md = sa.MetaData()
    md.reflect(engine)
    t = md.tables
    now = _time(engine, T0)
    with engine.begin() as conn:
        org = _insert(conn, t["organization"], name="赣南大学", uscc="91360700000000001X",
                      kind="university", created_at=now)
        firm = _insert(conn, t["organization"], name="稀土集团", uscc="91360700000000002X",
                       kind="enterprise", created_at=now)
        li = _insert(conn, t["user_account"], id=1, username="li", name="李明",
                     password_hash="x", active=True, created_at=now, organization_id=org)
        wang = _insert(conn, t["user_account"], id=2, username="wang", name="王五",
                       password_hash="x", active=True, created_at=now, organization_id=org)
        calls = {}
        for scheme in ("baogan", "jiebang"):
            calls[scheme] = _insert(
                conn, t["call"], scheme=scheme, year=2026, title=f"{scheme}指南", guide="",
                state="decided", version=1, opens_at=now, closes_at=now + timedelta(days=30),
                budget=Decimal("9000000.00"), form_schema=[], rubric=[],
                reviewers_per_application=3, aggregation="trimmed", tranche_plan=[], steps=[],
                notice_days=5, notice_working_days=True, max_running_projects=9,
                created_at=now)
        challenge = _insert(
            conn, t["challenge"], call_id=calls["jiebang"], title="高性能稀土永磁材料",
            description="", demand_org_id=firm, indicators=[], ceiling=Decimal("3000000.00"),
            duration_months=24, milestone_template=[], max_teams=1, created_at=now)

        def application(name: str, state: str, facts: dict[str, Any], applicant: int = li,
                        scheme: str = "baogan", **extra: Any) -> int:
            return _insert(conn, t["application"], call_id=calls[scheme], applicant_id=applicant,
                           organization_id=org, title=name, state=state, version=3,
                           data={"summary": f"{name}的摘要", **facts}, created_at=now,
                           updated_at=_time(engine, T0 + timedelta(days=1)), **extra)

        ids = {
            "committed": application("已提交项目", "formal_review", COMMITTED),
            "completed": application("揭榜项目", "completed", PLEDGED_AND_COMPLETED,
                                     applicant=wang, scheme="jiebang",
                                     challenge_id=challenge,
                                     granted_amount=Decimal("2000000.00"),
                                     disbursed=Decimal("2000000.00")),
            "failed": application("未通过项目", "failed", FAILED_WITH_DEFAULT_PASS,
                                  granted_amount=Decimal("500000.00"),
                                  disbursed=Decimal("350000.00")),
            "contracted": application("已签任务书项目", "contracted", CONTRACTED,
                                      granted_amount=Decimal("500000.00")),
            "not_facts": application("草稿", "draft", NOT_FACTS),
            "completed_unrecorded": application("早年结题项目", "completed", {},
                                                granted_amount=Decimal("300000.00")),
        }
        # A row that references the application: rebuilding the application table on
        # SQLite must not take it along (ON DELETE CASCADE).
        _insert(conn, t["application_round"], application_id=ids["committed"], round=1,
                title="已提交项目", data={"summary": "已提交项目的摘要", **COMMITTED},
                submitted_at=now, checklist={})
    return ids


def check_typed(engine: sa.Engine, ids: dict[str, int]) -> None:
    """After the upgrade: the facts in their columns and tables, gone from ``data``."""
    md = sa.MetaData()
    md.reflect(engine)
    app, sig, report = md.tables["application"], md.tables["signature"], md.tables["final_report"]
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(app))}
        sigs = {(s.application_id, s.document, s.party): s for s in conn.execute(sa.select(sig))}
        reports = {r.application_id: r for r in conn.execute(sa.select(report))}
        rounds = conn.execute(sa.text("SELECT count(*) FROM application_round")).scalar()

    assert rounds == 1
    for name in ("committed", "completed", "failed", "contracted", "completed_unrecorded"):
        assert rows[ids[name]].data == {"summary": f"{rows[ids[name]].title}的摘要"}, name
    assert rows[ids["not_facts"]].data == {"summary": "草稿的摘要",
                                           "commitment": {"signed_by": "李明"}}

    letter = sigs[(ids["committed"], "commitment", "team")]
    assert (letter.signer_id, letter.signer_name, letter.text_sha256) == (1, "李明", SHA)
    assert _aware(letter.signed_at) == T0

    done = ids["completed"]
    pledge = sigs[(done, "pledge", "team")]
    assert (pledge.signer_id, pledge.signer_name, _aware(pledge.signed_at)) == (2, "王五", T0)
    book = {party: (s.signer_id, s.signer_name, _aware(s.signed_at))
            for (a, doc, party), s in sigs.items() if a == done and doc == "task_book"}
    assert book == {"team": (2, "王五", T0 + timedelta(minutes=10)),
                    "demand": (None, "发榜联系人", T0 + timedelta(minutes=20)),
                    "bureau": (None, "张科长", T0 + timedelta(minutes=30))}
    final = reports[done]
    assert (final.report, Decimal(final.surplus), list(final.evidence), final.submitted_by_id) \
        == ("全部攻关指标完成，样机通过第三方检测。", Decimal("0.00"), [SHA], 2)
    assert _aware(final.submitted_at) == T0 + timedelta(minutes=40)
    row = rows[done]
    assert (row.acceptance_verdict, row.acceptance_opinions) == ("pass", "专家组一致同意通过验收")
    assert (row.demand_verdict, row.demand_opinion, row.demand_verdict_by) == (
        "pass", "指标达到榜单要求", "发榜联系人")
    assert _aware(row.demand_verdict_at) == T0 + timedelta(minutes=50)
    assert Decimal(row.defence_score) == Decimal("90.75")

    failed = rows[ids["failed"]]
    assert (failed.acceptance_verdict, failed.acceptance_opinions) == ("fail", "关键指标未达到")
    assert Decimal(reports[ids["failed"]].surplus) == Decimal("12345.00")

    team = sigs[(ids["contracted"], "task_book", "team")]
    assert (team.signer_id, team.signer_name, _aware(team.signed_at)) == (
        1, "李明", T0 + timedelta(minutes=30))
    assert rows[ids["completed_unrecorded"]].acceptance_verdict == "pass"
    assert rows[ids["contracted"]].acceptance_verdict is None
    assert not [k for k in sigs if k[0] == ids["not_facts"]]
    assert ids["not_facts"] not in reports


def check_constraints_hold(engine: sa.Engine, ids: dict[str, int]) -> None:
    """The database itself refuses a state without its fact."""
    for sql in (
        # a completed project without a passing verdict
        "UPDATE application SET acceptance_verdict = 'fail' WHERE id = :id",
        "UPDATE application SET acceptance_verdict = NULL WHERE id = :id",
        # a completed 揭榜挂帅 project without the demand side's pass
        "UPDATE application SET demand_verdict = NULL, demand_verdict_at = NULL "
        "WHERE id = :id",
        # a defence score out of range
        "UPDATE application SET defence_score = 101 WHERE id = :id",
        # a verdict before the acceptance
        "UPDATE application SET state = 'in_progress' WHERE id = :id",
        # a second pledge by the team
        "INSERT INTO signature (application_id, document, party, signer_name, signed_at) "
        "VALUES (:id, 'pledge', 'team', 'x', '2026-01-01')",
        # the bureau does not sign the commitment letter
        "INSERT INTO signature (application_id, document, party, signer_name, signed_at) "
        "VALUES (:id, 'commitment', 'bureau', 'x', '2026-01-01')",
    ):
        with engine.connect() as conn:
            try:
                conn.execute(sa.text(sql), {"id": ids["completed"]})
            except sa.exc.IntegrityError:
                conn.rollback()
            else:
                conn.rollback()
                raise AssertionError(f"the database accepted: {sql}")


def check_legacy(engine: sa.Engine, ids: dict[str, int]) -> None:
    """After the downgrade: the facts back in ``data``, in their former shape."""
    md = sa.MetaData()
    app = sa.Table("application", md, autoload_with=engine)
    with engine.connect() as conn:
        data = {r.id: r.data for r in conn.execute(sa.select(app.c.id, app.c.data))}
        assert not {"signature", "final_report"} & set(sa.inspect(conn).get_table_names())
        assert "defence_score" not in app.c

    def facts(name: str) -> dict[str, Any]:
        return {k: v for k, v in data[ids[name]].items() if k != "summary"}

    assert facts("committed") == COMMITTED
    assert facts("completed") == PLEDGED_AND_COMPLETED
    # The verdict is the failed project's own now.
    assert facts("failed") == {**FAILED_WITH_DEFAULT_PASS,
                               "acceptance": {"verdict": "fail", "opinions": "关键指标未达到"}}
    assert facts("contracted") == {"contract": {
        **CONTRACTED["contract"], "team_signed_at": iso(30), "team_signer": "李明"}}
    assert facts("not_facts") == {"commitment": {"signed_by": "李明"}}
    assert facts("completed_unrecorded") == {"acceptance": {"verdict": "pass", "opinions": ""}}
